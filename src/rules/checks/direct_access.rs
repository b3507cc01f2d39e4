//! Direct access (the CLB binds Pod IPs instead of NodePorts) and what depends on it.

use crate::rules::Finding;
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;

/// Off by default: direct access works on VPC-CNI and on GlobalRouter clusters (where a
/// cluster-wide switch, on by default, allows it), not on Cilium-Overlay; the webhook cannot see
/// which the cluster is (docs/tke-behaviour.md §5.1). Turned on, it reminds authors of the
/// requirement.
pub fn direct_access_network(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if ctx.is_true(keys::DIRECT_ACCESS) {
        out.push(Finding::new(
            &c::DIRECT_ACCESS_NETWORK,
            annotation_field(keys::DIRECT_ACCESS),
            "binds Pod IPs: needs a VPC-CNI, or GlobalRouter with direct access on, cluster",
            "check the cluster's network mode (not Cilium-Overlay), or remove direct-access",
        ));
    }
}

const GRACE_SHUTDOWN: [&str; 2] = [
    "ingress.cloud.tencent.com/enable-grace-shutdown",
    "ingress.cloud.tencent.com/enable-grace-shutdown-tkex",
];

/// Graceful shutdown drains Pod backends; with NodePort backends there is nothing for it to do
/// (docs/tke-behaviour.md §5.1).
pub fn grace_shutdown_without_direct_access(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if ctx.direct_access() {
        return;
    }
    for key in GRACE_SHUTDOWN.iter().filter(|k| ctx.is_true(k)) {
        out.push(Finding::new(
            &c::GRACE_SHUTDOWN_WITHOUT_DIRECT_ACCESS,
            annotation_field(key),
            "does nothing without direct access: the CLB binds NodePorts, not Pods",
            "add ingress.cloud.tencent.com/direct-access: \"true\", or remove it",
        ));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::rules::settings::RuleSetting;
    use crate::rules::testing::*;

    rule_cases! {
        direct_access_network: DIRECT_ACCESS_NETWORK {
            fires direct_access_on: http().annotate("ingress.cloud.tencent.com/direct-access", "true").backend("internal")
                .with_settings(|s| { s.rules.insert("direct-access-network".into(), RuleSetting::Warn); });
            clean off_by_default: http().annotate("ingress.cloud.tencent.com/direct-access", "true").backend("internal");
            clean node_ports: http();
            clean turned_off: http().annotate("ingress.cloud.tencent.com/direct-access", "false");
        }
        grace_shutdown_without_direct_access: GRACE_SHUTDOWN_WITHOUT_DIRECT_ACCESS {
            fires node_ports: http().annotate("ingress.cloud.tencent.com/enable-grace-shutdown", "true")
                => "metadata.annotations[ingress.cloud.tencent.com/enable-grace-shutdown]";
            fires tkex_variant: http().annotate("ingress.cloud.tencent.com/enable-grace-shutdown-tkex", "true");
            clean with_direct_access: http().annotate("ingress.cloud.tencent.com/enable-grace-shutdown", "true")
                .annotate("ingress.cloud.tencent.com/direct-access", "true");
            clean direct_access_by_default: http().annotate("ingress.cloud.tencent.com/enable-grace-shutdown", "true")
                .with_settings(|s| s.direct_access_by_default = true);
        }
    }
}
