//! Ingresses that share a CLB: through `existLbId` outside an enable-group (E4020), and host+path
//! clashes inside one.

use std::sync::Arc;

use crate::cluster::IngressSummary;
use crate::rules::Finding;
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;

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

/// Length of the part after `lb-` in every CLB id Tencent documents (`lb-6swtxxxx`).
const CLB_ID_LEN: usize = 8;

/// A placeholder (`lb-********`, `<your-clb-id>`) or a typo is not a CLB TKE can find (E4018).
/// Only a value that cannot be an id denies; one of another length only warns, since the id
/// format is shown by example, not specified.
pub fn exist_lb_id_format(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(value) = ctx.annotation(keys::EXIST_LB_ID) else {
        return;
    };
    let id = value.strip_prefix("lb-").unwrap_or_default();
    let charset = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let (problem, severity) = if id.is_empty() || !id.chars().all(charset) {
        (
            format!("{value:?} is not a CLB id"),
            crate::rules::Severity::Deny,
        )
    } else if id.len() == CLB_ID_LEN {
        return;
    } else {
        (
            format!(
                "{value:?} has {} characters after lb-; CLB ids have {CLB_ID_LEN}",
                id.len()
            ),
            crate::rules::Severity::Warn,
        )
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
    for other in others.iter().filter(|o| !grouped_with(ctx, o)) {
        out.push(Finding::new(
            &c::EXIST_LB_IN_USE,
            annotation_field(keys::EXIST_LB_ID),
            format!(
                "CLB {lb} is already used by Ingress {}/{}",
                other.namespace, other.name
            ),
            "use another CLB, or set ingress.cloud.tencent.com/enable-group: \"true\" on every Ingress sharing it",
        ));
    }
}

pub fn group_route_conflict(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some((lb, others)) = others_on_lb(ctx) else {
        return;
    };
    for other in others.iter().filter(|o| grouped_with(ctx, o)) {
        for path in ctx.spec_paths() {
            if other
                .routes
                .iter()
                .any(|r| r.host == path.host && r.path == path.url)
            {
                out.push(Finding::new(
                    &c::GROUP_ROUTE_CONFLICT,
                    format!("{}.path", path.field()),
                    format!(
                        "host {:?} path {:?} is already served on CLB {lb} by Ingress {}/{}",
                        path.host, path.url, other.namespace, other.name
                    ),
                    "use a different host or path; every host+path must be unique across the group",
                ));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::cluster::{IngressSummary, Route};
    use crate::rules::testing::*;

    const EXIST_LB: &str = "kubernetes.io/ingress.existLbId";
    const GROUP: &str = "ingress.cloud.tencent.com/enable-group";

    fn other(name: &str, namespace: &str, group: bool, path: &str) -> IngressSummary {
        IngressSummary {
            namespace: namespace.into(),
            name: name.into(),
            exist_lb_id: Some("lb-shared1".into()),
            lb_id: Some("lb-shared1".into()),
            enable_group: group,
            routes: vec![Route {
                host: "www.example.com".into(),
                path: path.into(),
            }],
        }
    }

    fn on_shared_lb() -> Fixture {
        http().annotate(EXIST_LB, "lb-shared1")
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
            clean free: on_shared_lb();
            clean its_own_earlier_version: on_shared_lb().updating(on_shared_lb())
                .with_ingress(other("app", NS, false, "/"));
            clean group_members: grouped().with_ingress(other("neighbour", "other", true, "/api"));
        }
        group_route_conflict: GROUP_ROUTE_CONFLICT {
            fires same_host_and_path: grouped().with_ingress(other("neighbour", "other", true, "/"))
                => "spec.rules[0].http.paths[0].path";
            clean other_path: grouped().with_ingress(other("neighbour", "other", true, "/api"));
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
    fn the_deny_names_the_other_ingress() {
        let message = grouped()
            .with_ingress(other("neighbour", "other", true, "/"))
            .decide()
            .deny_message
            .unwrap();
        assert!(message.contains("other/neighbour"), "{message}");
    }
}
