//! Annotation values that need nothing but the annotations themselves: booleans, billing,
//! security groups, TkeServiceConfig names, and the annotations that only work with a partner.

use crate::rules::Finding;
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;

const CHARGE_TYPES: [&str; 2] = ["TRAFFIC_POSTPAID_BY_HOUR", "BANDWIDTH_POSTPAID_BY_HOUR"];
const MAX_BANDWIDTH_MBPS: u32 = 2048;
const MAX_SECURITY_GROUPS: usize = 5;
const RESERVED_CONFIG_SUFFIXES: [&str; 2] = ["-auto-ingress-config", "-auto-service-config"];

pub fn boolean_annotation(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (key, value) in ctx.annotations {
        if !keys::is_bool(key) || value == "true" || value == "false" {
            continue;
        }
        let finding = Finding::new(
            &c::BOOLEAN_ANNOTATION,
            annotation_field(key),
            format!("{value:?} is not a boolean; TKE accepts only \"true\" or \"false\""),
            "set it to \"true\" or \"false\" (lowercase, quoted in YAML)",
        );
        out.push(match key.as_str() {
            keys::DIRECT_ACCESS => finding.with_code("E4037"),
            keys::RULE_MIX => finding.with_code("E4044"),
            keys::TKE_SERVICE_CONFIG_AUTO => finding.with_code("E4050"),
            _ => Finding {
                tke_code: None,
                ..finding
            },
        });
    }
}

pub fn charge_type(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if let Some(value) = ctx
        .annotation(keys::CHARGE_TYPE)
        .filter(|v| !CHARGE_TYPES.contains(v))
    {
        out.push(Finding::new(
            &c::CHARGE_TYPE,
            annotation_field(keys::CHARGE_TYPE),
            format!("{value:?} is not a CLB charge type"),
            "use TRAFFIC_POSTPAID_BY_HOUR or BANDWIDTH_POSTPAID_BY_HOUR",
        ));
    }
}

pub fn bandwidth(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(value) = ctx.annotation(keys::BANDWIDTH) else {
        return;
    };
    let in_range = value
        .parse::<u32>()
        .is_ok_and(|mbps| (1..=MAX_BANDWIDTH_MBPS).contains(&mbps));
    if !in_range {
        out.push(Finding::new(
            &c::BANDWIDTH,
            annotation_field(keys::BANDWIDTH),
            format!("{value:?} is not a whole number of Mbps from 1 to {MAX_BANDWIDTH_MBPS}"),
            "write the bandwidth cap in Mbps as a quoted integer, e.g. \"10\"",
        ));
    }
}

pub fn charge_pair(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let charge = ctx.annotation(keys::CHARGE_TYPE);
    let bandwidth = ctx.annotation(keys::BANDWIDTH);
    let (set, unset) = match (charge, bandwidth) {
        (Some(_), None) => (keys::CHARGE_TYPE, keys::BANDWIDTH),
        (None, Some(_)) => (keys::BANDWIDTH, keys::CHARGE_TYPE),
        _ => return,
    };
    out.push(Finding::new(
        &c::CHARGE_PAIR,
        annotation_field(set),
        format!("set without {unset}; TKE documents the two together"),
        format!("add {unset}"),
    ));
}

pub fn security_groups(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    // An empty value is valid: it unbinds every security group.
    let Some(value) = ctx
        .annotation(keys::SECURITY_GROUPS)
        .filter(|v| !v.is_empty())
    else {
        return;
    };
    let field = annotation_field(keys::SECURITY_GROUPS);
    let ids: Vec<&str> = value.split(',').map(str::trim).collect();
    if ids.len() > MAX_SECURITY_GROUPS {
        out.push(Finding::new(
            &c::SECURITY_GROUPS,
            field.clone(),
            format!(
                "lists {} security groups; a CLB takes at most {MAX_SECURITY_GROUPS}",
                ids.len()
            ),
            "keep at most 5 comma-separated ids",
        ));
    }
    for id in ids.into_iter().filter(|id| !is_security_group_id(id)) {
        out.push(Finding::new(
            &c::SECURITY_GROUPS,
            field.clone(),
            format!("{id:?} is not a security group id"),
            "use comma-separated ids of the form sg-xxxxxxxx",
        ));
    }
}

fn is_security_group_id(id: &str) -> bool {
    id.strip_prefix("sg-")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

pub fn tke_service_config(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(name) = ctx.annotation(keys::TKE_SERVICE_CONFIG) else {
        return;
    };
    let field = annotation_field(keys::TKE_SERVICE_CONFIG);
    // No documented code for the pair (E4051 is only the reserved suffix,
    // docs/tke-behaviour.md §7).
    if ctx.is_true(keys::TKE_SERVICE_CONFIG_AUTO) {
        out.push(Finding {
            tke_code: None,
            ..Finding::new(
                &c::TKE_SERVICE_CONFIG,
                field.clone(),
                "is set together with tke-service-config-auto: \"true\"",
                "use one: name your own TkeServiceConfig, or let TKE create one with -auto",
            )
        });
    }
    if let Some(suffix) = RESERVED_CONFIG_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        out.push(
            Finding::new(
                &c::TKE_SERVICE_CONFIG,
                field,
                format!("{name:?} ends in {suffix}, a suffix TKE reserves for its own configs"),
                "rename the TkeServiceConfig",
            )
            .with_code("E4051"),
        );
    }
}

pub fn enable_group_needs_exist_lb(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if ctx.is_true(keys::ENABLE_GROUP) && !ctx.annotations.contains_key(keys::EXIST_LB_ID) {
        out.push(Finding::new(
            &c::ENABLE_GROUP_NEEDS_EXIST_LB,
            annotation_field(keys::ENABLE_GROUP),
            "needs kubernetes.io/ingress.existLbId: groups share a CLB made in the CLB console",
            "add existLbId with the shared CLB's id, or remove enable-group",
        ));
    }
}

/// A group shares one CLB: TKE refuses a per-Ingress auto config and `mode: skip` there
/// (docs/tke-behaviour.md §2.6; Tencent document 457/127545).
pub fn enable_group_conflict(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if !ctx.is_true(keys::ENABLE_GROUP) {
        return;
    }
    let conflicts = [
        (
            keys::TKE_SERVICE_CONFIG_AUTO,
            ctx.is_true(keys::TKE_SERVICE_CONFIG_AUTO),
        ),
        (keys::MODE, ctx.annotation(keys::MODE) == Some("skip")),
    ];
    for (key, _) in conflicts.iter().filter(|(_, set)| *set) {
        out.push(Finding::new(
            &c::ENABLE_GROUP_CONFLICT,
            annotation_field(key),
            format!(
                "is not allowed on an Ingress with {}: \"true\"",
                keys::ENABLE_GROUP
            ),
            "remove it; configure the shared CLB with a named tke-service-config instead",
        ));
    }
}

pub fn cross_region(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let exist = ctx.annotations.contains_key(keys::EXIST_LB_ID);
    let vpc = ctx.annotations.contains_key(keys::CROSS_VPC_ID);
    if vpc && exist {
        out.push(Finding::new(
            &c::CROSS_REGION,
            annotation_field(keys::CROSS_VPC_ID),
            "is ignored with existLbId: it applies only to CLBs TKE creates",
            "remove cross-vpc-id, or let TKE create the CLB",
        ));
    }
    if ctx.annotations.contains_key(keys::CROSS_REGION_ID) && !exist && !vpc {
        out.push(Finding::new(
            &c::CROSS_REGION,
            annotation_field(keys::CROSS_REGION_ID),
            "has no effect without existLbId or cross-vpc-id",
            "add existLbId or cross-vpc-id",
        ));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::testing::*;

    const CHARGE: &str = "kubernetes.io/ingress.internetChargeType";
    const BANDWIDTH: &str = "kubernetes.io/ingress.internetMaxBandwidthOut";
    const GROUPS: &str = "ingress.cloud.tencent.com/security-groups";
    const CONFIG: &str = "ingress.cloud.tencent.com/tke-service-config";
    const GROUP: &str = "ingress.cloud.tencent.com/enable-group";
    const EXIST: &str = "kubernetes.io/ingress.existLbId";

    rule_cases! {
        boolean_annotation: BOOLEAN_ANNOTATION {
            fires yes: http().annotate("ingress.cloud.tencent.com/pass-to-target", "yes")
                => "metadata.annotations[ingress.cloud.tencent.com/pass-to-target]";
            fires capitalised: http().annotate("kubernetes.io/ingress.rule-mix", "True");
            clean lowercase: http().annotate("ingress.cloud.tencent.com/pass-to-target", "false");
        }
        charge_type: CHARGE_TYPE {
            fires prepaid: http().annotate(CHARGE, "PREPAID").annotate(BANDWIDTH, "10");
            clean by_traffic: http().annotate(CHARGE, "TRAFFIC_POSTPAID_BY_HOUR").annotate(BANDWIDTH, "10");
        }
        bandwidth: BANDWIDTH {
            fires too_high: http().annotate(CHARGE, "TRAFFIC_POSTPAID_BY_HOUR").annotate(BANDWIDTH, "5000");
            fires not_a_number: http().annotate(CHARGE, "TRAFFIC_POSTPAID_BY_HOUR").annotate(BANDWIDTH, "ten");
            clean in_range: http().annotate(CHARGE, "TRAFFIC_POSTPAID_BY_HOUR").annotate(BANDWIDTH, "2048");
        }
        charge_pair: CHARGE_PAIR {
            fires bandwidth_alone: http().annotate(BANDWIDTH, "10") => "metadata.annotations[kubernetes.io/ingress.internetMaxBandwidthOut]";
            fires charge_type_alone: http().annotate(CHARGE, "TRAFFIC_POSTPAID_BY_HOUR");
            clean both: http().annotate(CHARGE, "TRAFFIC_POSTPAID_BY_HOUR").annotate(BANDWIDTH, "10");
        }
        security_groups: SECURITY_GROUPS {
            fires six: http().annotate(GROUPS, "sg-1,sg-2,sg-3,sg-4,sg-5,sg-6");
            fires not_an_id: http().annotate(GROUPS, "12ab34cd");
            clean five: http().annotate(GROUPS, "sg-1, sg-2,sg-3,sg-4,sg-5");
            clean empty_unbinds_all: http().annotate(GROUPS, "");
        }
        tke_service_config: TKE_SERVICE_CONFIG {
            fires reserved_suffix: http().annotate(CONFIG, "app-auto-ingress-config");
            fires with_auto: http().annotate(CONFIG, "mine").annotate("ingress.cloud.tencent.com/tke-service-config-auto", "true");
            clean own_config: http().annotate(CONFIG, "mine");
        }
        enable_group_needs_exist_lb: ENABLE_GROUP_NEEDS_EXIST_LB {
            fires alone: http().annotate("ingress.cloud.tencent.com/enable-group", "true");
            clean with_exist_lb: http().annotate("ingress.cloud.tencent.com/enable-group", "true")
                .annotate("kubernetes.io/ingress.existLbId", "lb-shared12");
        }
        enable_group_conflict: ENABLE_GROUP_CONFLICT {
            fires auto_config: http().annotate(GROUP, "true").annotate(EXIST, "lb-shared12")
                .annotate("ingress.cloud.tencent.com/tke-service-config-auto", "true")
                => "metadata.annotations[ingress.cloud.tencent.com/tke-service-config-auto]";
            fires skip_mode: http().annotate(GROUP, "true").annotate(EXIST, "lb-shared12")
                .annotate("ingress.cloud.tencent.com/mode", "skip");
            clean named_config: http().annotate(GROUP, "true").annotate(EXIST, "lb-shared12").annotate(CONFIG, "shared");
            clean auto_config_alone: http().annotate("ingress.cloud.tencent.com/tke-service-config-auto", "true");
        }
        cross_region: CROSS_REGION {
            fires region_alone: http().annotate("ingress.cloud.tencent.com/cross-region-id", "ap-guangzhou");
            fires vpc_with_exist_lb: http().annotate("ingress.cloud.tencent.com/cross-vpc-id", "vpc-1")
                .annotate("kubernetes.io/ingress.existLbId", "lb-shared12");
            clean region_with_vpc: http().annotate("ingress.cloud.tencent.com/cross-region-id", "ap-guangzhou")
                .annotate("ingress.cloud.tencent.com/cross-vpc-id", "vpc-1");
        }
    }

    #[test]
    fn each_boolean_names_its_own_tke_code_and_the_message_has_its_shape() {
        let decision = http()
            .annotate("ingress.cloud.tencent.com/direct-access", "yes")
            .decide();
        assert_eq!(decision.findings[0].tke_code, Some("E4037"));
        let message = decision.deny_message.unwrap();
        assert!(message.starts_with("metadata.annotations[ingress.cloud.tencent.com/direct-access]: \"yes\" is not a boolean"), "{message}");
        assert!(
            message.contains("(TKE would fail with Ingress error E4037; fix: set it to"),
            "{message}"
        );
        assert!(message.ends_with("[boolean-annotation]"), "{message}");
        let rule_mix = http().annotate("kubernetes.io/ingress.rule-mix", "yes");
        assert_eq!(
            rule_mix.findings_of(&c::BOOLEAN_ANNOTATION)[0].tke_code,
            Some("E4044")
        );
        let other = http().annotate("ingress.cloud.tencent.com/pass-to-target", "yes");
        assert_eq!(other.findings_of(&c::BOOLEAN_ANNOTATION)[0].tke_code, None);
    }

    #[test]
    fn three_wrong_booleans_name_all_three_codes() {
        let message = http()
            .annotate("kubernetes.io/ingress.rule-mix", "yes")
            .annotate(
                "ingress.cloud.tencent.com/tke-service-config-auto",
                "enabled",
            )
            .annotate("ingress.cloud.tencent.com/direct-access", "on")
            .decide()
            .deny_message
            .unwrap();
        for code in ["E4037", "E4044", "E4050"] {
            assert_eq!(message.matches(code).count(), 1, "{code}: {message}");
        }
        assert_eq!(message.matches("fix: set it to").count(), 1, "{message}");
    }

    #[test]
    fn security_group_ids() {
        assert!(is_security_group_id("sg-12ab34cd"));
        assert!(!is_security_group_id("sg-"));
        assert!(!is_security_group_id("12ab34cd"));
        assert!(!is_security_group_id("sg-12 ab"));
    }
}
