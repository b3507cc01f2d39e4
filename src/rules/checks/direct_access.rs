//! Direct access (the CLB binds Pod IPs instead of NodePorts) and what depends on it.

use crate::rules::Finding;
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;

pub fn direct_access_network(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if ctx.is_true(keys::DIRECT_ACCESS) {
        out.push(Finding::new(
            &c::DIRECT_ACCESS_NETWORK,
            annotation_field(keys::DIRECT_ACCESS),
            "direct-access binds Pod IPs: it works only with VPC-CNI (ENI) pods",
            "check the cluster's network mode, or remove direct-access",
        ));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::rules::testing::*;

    rule_cases! {
        direct_access_network: DIRECT_ACCESS_NETWORK {
            fires direct_access_on: http().annotate("ingress.cloud.tencent.com/direct-access", "true").backend("internal");
            clean node_ports: http();
            clean turned_off: http().annotate("ingress.cloud.tencent.com/direct-access", "false");
        }
    }
}
