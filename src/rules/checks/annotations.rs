//! Checks on annotation values that need nothing but the annotations themselves.

use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;
use crate::rules::{Finding, Operation};

const CHARGE_TYPES: [&str; 2] = ["TRAFFIC_POSTPAID_BY_HOUR", "BANDWIDTH_POSTPAID_BY_HOUR"];
const MAX_BANDWIDTH_MBPS: u32 = 2048;
const MAX_SECURITY_GROUPS: usize = 5;
const RESERVED_CONFIG_SUFFIXES: [&str; 2] = ["-auto-ingress-config", "-auto-service-config"];

pub fn check(ctx: &Ctx<'_>, operation: Operation, out: &mut Vec<Finding>) {
    booleans(ctx, out);
    charge(ctx, out);
    security_groups(ctx, out);
    tke_service_config(ctx, out);
    cross_region(ctx, out);
    class(ctx, out);
    unknown_and_foreign_keys(ctx, operation, out);
    if ctx.is_true(keys::DIRECT_ACCESS) {
        out.push(Finding::new(
            &c::DIRECT_ACCESS_NETWORK,
            annotation_field(keys::DIRECT_ACCESS),
            "direct-access binds Pod IPs: it works only with VPC-CNI (ENI) pods",
            "check the cluster's network mode, or remove direct-access",
        ));
    }
}

fn booleans(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
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

fn charge(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let charge = ctx.annotation(keys::CHARGE_TYPE);
    let bandwidth = ctx.annotation(keys::BANDWIDTH);
    if let Some(value) = charge.filter(|v| !CHARGE_TYPES.contains(v)) {
        out.push(Finding::new(
            &c::CHARGE_TYPE,
            annotation_field(keys::CHARGE_TYPE),
            format!("{value:?} is not a CLB charge type"),
            "use TRAFFIC_POSTPAID_BY_HOUR or BANDWIDTH_POSTPAID_BY_HOUR",
        ));
    }
    if let Some(value) = bandwidth {
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
    let missing = match (charge, bandwidth) {
        (Some(_), None) => Some((keys::CHARGE_TYPE, keys::BANDWIDTH)),
        (None, Some(_)) => Some((keys::BANDWIDTH, keys::CHARGE_TYPE)),
        _ => None,
    };
    if let Some((set, unset)) = missing {
        out.push(Finding::new(
            &c::CHARGE_PAIR,
            annotation_field(set),
            format!("set without {unset}; TKE documents the two together"),
            format!("add {unset}"),
        ));
    }
}

fn security_groups(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
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

fn tke_service_config(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(name) = ctx.annotation(keys::TKE_SERVICE_CONFIG) else {
        return;
    };
    let field = annotation_field(keys::TKE_SERVICE_CONFIG);
    if ctx.is_true(keys::TKE_SERVICE_CONFIG_AUTO) {
        out.push(
            Finding::new(
                &c::TKE_SERVICE_CONFIG,
                field.clone(),
                "is set together with tke-service-config-auto: \"true\"",
                "use one: name your own TkeServiceConfig, or let TKE create one with -auto",
            )
            .with_code("E4051"),
        );
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

fn cross_region(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
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
    if ctx.is_true(keys::ENABLE_GROUP) && !exist {
        out.push(Finding::new(
            &c::ENABLE_GROUP_NEEDS_EXIST_LB,
            annotation_field(keys::ENABLE_GROUP),
            "needs kubernetes.io/ingress.existLbId: groups share a CLB made in the CLB console",
            "add existLbId with the shared CLB's id, or remove enable-group",
        ));
    }
}

fn class(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let annotation = ctx.annotation(keys::CLASS);
    let class_name = ctx
        .ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref());
    if annotation == Some("") {
        out.push(Finding::new(
            &c::CLASS_TYPO,
            annotation_field(keys::CLASS),
            "is empty; TKE's handling of an empty class is undocumented",
            "set it to qcloud, or remove it",
        ));
    }
    if let (Some(a), Some(_)) = (annotation.filter(|a| !a.is_empty()), class_name) {
        out.push(Finding::new(
            &c::CLASS_AND_CLASS_NAME,
            "spec.ingressClassName",
            format!(
                "is set together with the annotation {}: {a:?}; the API server refuses this on create",
                keys::CLASS
            ),
            "keep one: spec.ingressClassName: qcloud, or the annotation",
        ));
    }
}

/// Keys TKE does not know, nginx keys, and read-only keys written by a user.
fn unknown_and_foreign_keys(ctx: &Ctx<'_>, operation: Operation, out: &mut Vec<Finding>) {
    for key in ctx.annotations.keys() {
        if let Some(known) = keys::known(key) {
            // The legacy qcloud_cert_id annotation is compared with the Secret by its own rule.
            if known.read_only && operation == Operation::Create && key != keys::QCLOUD_CERT_ID {
                out.push(read_only_finding(key));
            }
            continue;
        }
        if key.starts_with(keys::NGINX_PREFIX) {
            out.push(Finding::new(
                &c::NGINX_ANNOTATION,
                annotation_field(key),
                "is an nginx-ingress annotation; TKE's CLB controller ignores it",
                "remove it, or use the qcloud equivalent if there is one",
            ));
        } else if keys::TKE_PREFIXES.iter().any(|p| key.starts_with(p)) {
            let hint =
                did_you_mean(key).map_or_else(String::new, |k| format!(" (did you mean {k}?)"));
            out.push(Finding::new(
                &c::UNKNOWN_ANNOTATION,
                annotation_field(key),
                format!("is not an annotation TKE knows{hint}"),
                "fix the key, or remove it",
            ));
        }
    }
}

fn read_only_finding(key: &str) -> Finding {
    Finding::new(
        &c::READ_ONLY_ANNOTATION,
        annotation_field(key),
        "is written by TKE; a value set on create has no effect",
        "remove it from the manifest",
    )
}

/// The known key a misspelt one most likely meant: same letters ignoring case and separators
/// (under either prefix), or at most two edits away.
pub fn did_you_mean(key: &str) -> Option<&'static str> {
    let normal = |k: &str| -> String {
        let tail = keys::TKE_PREFIXES
            .iter()
            .find_map(|p| k.strip_prefix(p))
            .unwrap_or(k);
        tail.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let wanted = normal(key);
    let candidates = keys::KNOWN.iter().filter(|a| !a.read_only);
    candidates
        .clone()
        .find(|a| normal(a.key) == wanted)
        .or_else(|| {
            candidates
                .map(|a| (crate::text::edit_distance(&normal(a.key), &wanted), a))
                .filter(|(d, _)| *d <= 2)
                .min_by_key(|(d, _)| *d)
                .map(|(_, a)| a)
        })
        .map(|a| a.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_get_a_suggestion() {
        assert_eq!(
            did_you_mean("ingress.cloud.tencent.com/internet-charge-type"),
            Some(keys::CHARGE_TYPE)
        );
        assert_eq!(
            did_you_mean("ingress.cloud.tencent.com/direct-acess"),
            Some(keys::DIRECT_ACCESS)
        );
        assert_eq!(
            did_you_mean("kubernetes.io/ingress.rulemix"),
            Some(keys::RULE_MIX)
        );
        assert_eq!(
            did_you_mean("ingress.cloud.tencent.com/completely-else"),
            None
        );
    }

    #[test]
    fn security_group_ids() {
        assert!(is_security_group_id("sg-12ab34cd"));
        assert!(!is_security_group_id("sg-"));
        assert!(!is_security_group_id("12ab34cd"));
        assert!(!is_security_group_id("sg-12 ab"));
    }
}
