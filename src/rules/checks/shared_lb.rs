//! Ingresses that share a CLB: the `existLbId` itself, a CLB already used by another Ingress or a
//! Service outside an enable-group (E4019/E4020), and host+path clashes on one listener inside a
//! group.

use std::sync::Arc;

use crate::cluster::IngressSummary;
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;
use crate::rules::{Finding, Severity};

/// The `existLbId` of the Ingress under review and the other Ingresses the cluster has on it.
fn others_on_lb<'a>(ctx: &Ctx<'a>) -> Option<(&'a str, Vec<Arc<IngressSummary>>)> {
    let lb = ctx
        .annotation(keys::EXIST_LB_ID)
        .map(str::trim)
        .filter(|v| !v.is_empty())?;
    let others = ctx
        .cluster
        .ingresses_on_lb(lb)
        .into_iter()
        .filter(|o| !(o.namespace == ctx.namespace && o.name == ctx.name))
        .collect();
    Some((lb, others))
}

fn grouped_with(ctx: &Ctx<'_>, other: &IngressSummary) -> bool {
    ctx.is_true(keys::ENABLE_GROUP) && other.enable_group
}

/// A placeholder (`lb-********`, `<your-clb-id>`) or a typo is not a CLB TKE can find (E4018).
/// Only a value that cannot be an id denies; one of another length only warns, since the id
/// format is shown by example, not specified.
pub fn exist_lb_id_format(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    const CLB_ID: super::IdForm = super::IdForm {
        prefix: "lb-",
        id: "CLB id",
        ids: "CLB ids",
    };
    let Some((problem, severity)) = ctx
        .annotation(keys::EXIST_LB_ID)
        .and_then(|value| CLB_ID.problem(value))
    else {
        return;
    };
    out.push(
        Finding::new(
            &c::EXIST_LB_ID_FORMAT,
            annotation_field(keys::EXIST_LB_ID),
            problem,
            "copy the id (lb-xxxxxxxx) from the CLB console, in the Ingress's region",
        )
        .with_severity(severity),
    );
}

pub fn exist_lb_in_use(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some((lb, others)) = others_on_lb(ctx) else {
        return;
    };
    let field = annotation_field(keys::EXIST_LB_ID);
    for other in others.iter().filter(|o| !grouped_with(ctx, o)) {
        // A CLB TKE created for the other Ingress is TKE-owned: E4019, not E4020
        // (docs/tke-behaviour.md §2.6).
        let code = if other.exist_lb_id.is_some() {
            "E4020"
        } else {
            "E4019"
        };
        out.push(
            Finding::new(
                &c::EXIST_LB_IN_USE,
                field.clone(),
                format!(
                    "CLB {lb} is already used by Ingress {}/{}",
                    other.namespace, other.name
                ),
                "use another CLB, or set ingress.cloud.tencent.com/enable-group: \"true\" on every Ingress sharing it",
            )
            .with_code(code),
        );
    }
    for (namespace, name) in ctx.cluster.services_on_lb(lb) {
        // Newer controllers (v2.12.0+) let a Service share a grouped CLB: only warn there.
        let severity = if ctx.is_true(keys::ENABLE_GROUP) {
            Severity::Warn
        } else {
            Severity::Deny
        };
        out.push(Finding {
            tke_code: None,
            ..Finding::new(
                &c::EXIST_LB_IN_USE,
                field.clone(),
                format!(
                    "CLB {lb} is already used by Service {namespace}/{name} (service.kubernetes.io/tke-existed-lbid)"
                ),
                "give the Ingress or the Service its own CLB",
            )
            .with_severity(severity)
        });
    }
}

pub fn group_route_conflict(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some((lb, others)) = others_on_lb(ctx) else {
        return;
    };
    for other in others.iter().filter(|o| grouped_with(ctx, o)) {
        for path in ctx.spec_paths() {
            let clash = ctx.layout.listeners_of(&path).find(|listener| {
                other
                    .routes
                    .iter()
                    .any(|r| r.listener == *listener && r.host == path.host && r.path == path.url)
            });
            let Some(listener) = clash else {
                continue;
            };
            out.push(Finding::new(
                &c::GROUP_ROUTE_CONFLICT,
                format!("{}.path", path.field()),
                format!(
                    "host {:?} path {:?} is already served on {listener} of CLB {lb} by Ingress {}/{}",
                    path.host, path.url, other.namespace, other.name
                ),
                "use a different host, path or listen-ports listener; every host+path must be unique per listener across the group",
            ));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::cluster::{IngressSummary, Route};
    use crate::ingress::listeners::Listener;
    use crate::rules::testing::*;

    const EXIST_LB: &str = "kubernetes.io/ingress.existLbId";
    const GROUP: &str = "ingress.cloud.tencent.com/enable-group";

    fn other(name: &str, namespace: &str, group: bool, path: &str) -> IngressSummary {
        on_listener(name, namespace, group, path, Listener::HTTP_80)
    }

    fn on_listener(
        name: &str,
        namespace: &str,
        group: bool,
        path: &str,
        listener: Listener,
    ) -> IngressSummary {
        IngressSummary {
            namespace: namespace.into(),
            name: name.into(),
            exist_lb_id: Some("lb-shared12".into()),
            lb_id: Some("lb-shared12".into()),
            enable_group: group,
            routes: vec![Route {
                listener,
                host: "www.example.com".into(),
                path: path.into(),
            }],
            backends: vec!["web".into()],
        }
    }

    /// A CLB TKE made for another Ingress: it has no existLbId, only TKE's id annotation.
    fn created_by_tke(name: &str) -> IngressSummary {
        IngressSummary {
            exist_lb_id: None,
            ..other(name, "other", false, "/x")
        }
    }

    fn service_on_lb() -> crate::cluster::ServiceSummary {
        crate::cluster::ServiceSummary {
            existed_lb_id: Some("lb-shared12".into()),
            ..service("LoadBalancer")
        }
    }

    fn on_shared_lb() -> Fixture {
        http().annotate(EXIST_LB, "lb-shared12")
    }

    fn grouped() -> Fixture {
        on_shared_lb().annotate(GROUP, "true")
    }

    rule_cases! {
        exist_lb_id_format: EXIST_LB_ID_FORMAT {
            fires placeholder: http().annotate(EXIST_LB, "lb-********") => "metadata.annotations[kubernetes.io/ingress.existLbId]";
            fires angle_brackets: http().annotate(EXIST_LB, "<your-clb-id>");
            fires uppercase: http().annotate(EXIST_LB, "lb-6SWT12AB");
            fires another_length: http().annotate(EXIST_LB, "lb-6swt12");
            clean documented_shape: http().annotate(EXIST_LB, "lb-6swtxxxx");
            clean none: http();
        }
        exist_lb_in_use: EXIST_LB_IN_USE {
            fires taken: on_shared_lb().with_ingress(other("taken", "other", false, "/x"))
                => "metadata.annotations[kubernetes.io/ingress.existLbId]";
            fires only_one_side_grouped: grouped().with_ingress(other("taken", "other", false, "/x"));
            fires tke_made_it_for_another: on_shared_lb().with_ingress(created_by_tke("owner"));
            fires a_service_uses_it: on_shared_lb().with_cluster(|c| c.insert_service("other", "lb-svc", service_on_lb()));
            clean free: on_shared_lb();
            clean its_own_earlier_version: on_shared_lb().updating(on_shared_lb())
                .with_ingress(other("app", NS, false, "/"));
            clean group_members: grouped().with_ingress(other("neighbour", "other", true, "/api"));
        }
        group_route_conflict: GROUP_ROUTE_CONFLICT {
            fires same_host_and_path: grouped().with_ingress(other("neighbour", "other", true, "/"))
                => "spec.rules[0].http.paths[0].path";
            clean other_path: grouped().with_ingress(other("neighbour", "other", true, "/api"));
            clean same_route_on_another_listener: grouped()
                .annotate("ingress.cloud.tencent.com/listen-ports", r#"[{"HTTP": 81}]"#)
                .with_ingress(other("neighbour", "other", true, "/"));
            clean http_beside_https: grouped()
                .with_ingress(on_listener("neighbour", "other", true, "/", Listener::HTTPS_443));
        }
    }

    #[test]
    fn only_an_id_of_another_length_merely_warns() {
        let finding = &http()
            .annotate(EXIST_LB, "lb-6swt12")
            .findings_of(&crate::rules::catalogue::EXIST_LB_ID_FORMAT)[0];
        assert_eq!(finding.severity, crate::rules::Severity::Warn);
        assert!(!http().annotate(EXIST_LB, "lb-****").decide().allowed());
    }

    #[test]
    fn the_code_says_who_made_the_clb_and_a_grouped_service_only_warns() {
        let code = |fixture: Fixture| {
            fixture.findings_of(&crate::rules::catalogue::EXIST_LB_IN_USE)[0].tke_code
        };
        let console = on_shared_lb().with_ingress(other("taken", "other", false, "/x"));
        assert_eq!(code(console), Some("E4020"));
        assert_eq!(
            code(on_shared_lb().with_ingress(created_by_tke("owner"))),
            Some("E4019")
        );
        let grouped_service =
            grouped().with_cluster(|c| c.insert_service("other", "lb-svc", service_on_lb()));
        assert!(grouped_service.decide().allowed());
        let ungrouped_service =
            on_shared_lb().with_cluster(|c| c.insert_service("other", "lb-svc", service_on_lb()));
        let message = ungrouped_service.decide().deny_message.unwrap();
        assert!(message.contains("Service other/lb-svc"), "{message}");
    }

    #[test]
    fn the_deny_names_the_other_ingress() {
        let message = grouped()
            .with_ingress(other("neighbour", "other", true, "/"))
            .decide()
            .deny_message
            .unwrap();
        assert!(message.contains("other/neighbour"), "{message}");
    }
}
