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
    fn the_deny_names_the_other_ingress() {
        let message = grouped()
            .with_ingress(other("neighbour", "other", true, "/"))
            .decide()
            .deny_message
            .unwrap();
        assert!(message.contains("other/neighbour"), "{message}");
    }
}
