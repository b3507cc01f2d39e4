//! Annotation values that need nothing but the annotations themselves: booleans, billing,
//! security groups, TkeServiceConfig names, and the annotations that only work with a partner.

use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;
use crate::rules::{Finding, Severity};

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

/// The CLB API's cap for a performance-capacity (LCU) instance, one with an `SlaType`.
const MAX_LCU_BANDWIDTH_MBPS: u32 = 61_440;

/// 1–2048 Mbps (the annotation page and the CLB API for shared instances). Warned, not denied:
/// 0, which one edition of the annotation page allows, and up to 61440 on a performance-capacity
/// CLB (`SlaType` in extensiveParameters), which the CLB API allows.
pub fn bandwidth(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(value) = ctx.annotation(keys::BANDWIDTH) else {
        return;
    };
    let lcu = ctx
        .json(keys::EXTENSIVE_PARAMETERS)
        .is_some_and(|p| p.get("SlaType").is_some());
    let (problem, severity) = match value.parse::<u32>() {
        Ok(1..=MAX_BANDWIDTH_MBPS) => return,
        Ok(0) => ("0 Mbps: the API takes 1 to 2048", Severity::Warn),
        Ok(mbps) if lcu && mbps <= MAX_LCU_BANDWIDTH_MBPS => {
            ("over 2048: only an SlaType CLB takes it", Severity::Warn)
        }
        _ => (
            "is not a whole number of Mbps from 1 to 2048",
            Severity::Deny,
        ),
    };
    let problem = if severity == Severity::Deny {
        format!("{value:?} {problem}")
    } else {
        problem.to_owned()
    };
    out.push(
        Finding::new(
            &c::BANDWIDTH,
            annotation_field(keys::BANDWIDTH),
            problem,
            "write the bandwidth cap in Mbps as a quoted integer from 1 to 2048, e.g. \"10\"",
        )
        .with_severity(severity),
    );
}

/// What a CreateLoadBalancer parameter takes (Tencent Cloud API, CLB 2018-03-17,
/// `CreateLoadBalancerRequest` and `InternetAccessible`).
#[derive(Clone, Copy)]
enum Parameter {
    Text,
    /// One of these (compared without case where the API says so).
    OneOf(&'static [&'static str], bool),
    /// An availability zone: its numeric id (`100001`) or its name (`ap-guangzhou-1`).
    Zone,
    Integer,
    Bool,
    Object,
    Array,
}

/// Every CreateLoadBalancer request parameter; TKE passes extensiveParameters to that call.
const PARAMETERS: [(&str, Parameter); 32] = {
    use Parameter::{Array, Bool, Integer, Object, OneOf, Text, Zone};
    [
        ("LoadBalancerType", OneOf(&["OPEN", "INTERNAL"], false)),
        ("Forward", Integer),
        ("LoadBalancerName", Text),
        ("VpcId", Text),
        ("SubnetId", Text),
        ("ProjectId", Integer),
        (
            "AddressIPVersion",
            OneOf(&["IPV4", "IPV6", "IPv6FullChain"], true),
        ),
        ("Number", Integer),
        ("MasterZoneId", Zone),
        ("ZoneId", Zone),
        ("InternetAccessible", Object),
        ("VipIsp", OneOf(&["CMCC", "CTCC", "CUCC", "BGP"], false)),
        ("Tags", Array),
        ("Vip", Text),
        ("BandwidthPackageId", Text),
        ("ExclusiveCluster", Object),
        ("SlaType", OneOf(&SLA_TYPES, false)),
        ("ClusterIds", Array),
        ("ClientToken", Text),
        ("SnatPro", Bool),
        ("SnatIps", Array),
        ("ClusterTag", Text),
        ("SlaveZoneId", Zone),
        ("EipAddressId", Text),
        ("LoadBalancerPassToTarget", Bool),
        ("DynamicVip", Bool),
        ("Egress", Text),
        ("LBChargePrepaid", Object),
        (
            "LBChargeType",
            OneOf(&["POSTPAID_BY_HOUR", "PREPAID"], false),
        ),
        ("AccessLogTopicId", Text),
        ("AdvancedRoute", Bool),
        ("AvailableZoneAffinityInfo", Object),
    ]
};

/// The performance-capacity (LCU) CLB sizes CreateLoadBalancer documents for `SlaType`.
const SLA_TYPES: [&str; 7] = [
    "clb.c2.medium",
    "clb.c3.small",
    "clb.c3.medium",
    "clb.c4.small",
    "clb.c4.medium",
    "clb.c4.large",
    "clb.c4.xlarge",
];

/// `InternetAccessible.InternetChargeType` values of the CLB API.
const NETWORK_CHARGE_TYPES: [&str; 4] = [
    "TRAFFIC_POSTPAID_BY_HOUR",
    "BANDWIDTH_POSTPAID_BY_HOUR",
    "BANDWIDTH_PACKAGE",
    "BANDWIDTH_PREPAID",
];

/// A zone id (`100001`) or name (`ap-guangzhou-1`: region, dash, number).
fn is_zone(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(text)
        || text
            .rsplit_once('-')
            .is_some_and(|(region, number)| is_region(region) && digits(number))
}

/// A Tencent Cloud region: `ap-guangzhou`, `na-siliconvalley`, `ap-shanghai-fsi`.
fn is_region(text: &str) -> bool {
    let lower = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    let mut parts = text.split('-');
    let area = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    area.len() == 2 && lower(area) && !rest.is_empty() && rest.iter().all(|p| lower(p))
}

/// What is wrong with one parameter's value, if anything.
fn parameter_problem(kind: Parameter, value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let fits = match (kind, value) {
        (Parameter::OneOf(allowed, any_case), Value::String(s)) => allowed
            .iter()
            .any(|a| a == s || (any_case && a.eq_ignore_ascii_case(s))),
        (Parameter::Zone, Value::String(s)) => is_zone(s),
        (Parameter::Text | Parameter::OneOf(..) | Parameter::Zone, _) => value.is_string(),
        (Parameter::Integer, _) => value.is_i64() || value.is_u64(),
        (Parameter::Bool, _) => value.is_boolean(),
        (Parameter::Object, _) => value.is_object(),
        (Parameter::Array, _) => value.is_array(),
    };
    (!fits).then(|| match (kind, value) {
        (Parameter::OneOf(..) | Parameter::Zone, Value::String(s)) => {
            format!("{s:?} is not a documented value")
        }
        _ => format!("{value} has the wrong JSON type"),
    })
}

/// extensiveParameters goes to CLB's CreateLoadBalancer: a key it does not take, or a value it
/// documents otherwise, is a CLB that is not created as meant (E4024 for a bad value). Only
/// warnings: TKE may drop or override some keys, which is not documented.
pub fn extensive_parameters_values(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(object) = ctx
        .json(keys::EXTENSIVE_PARAMETERS)
        .and_then(serde_json::Value::as_object)
    else {
        return;
    };
    let base = annotation_field(keys::EXTENSIVE_PARAMETERS);
    for (key, value) in object {
        let field = format!("{base}.{key}");
        let Some((_, kind)) = PARAMETERS.iter().find(|(name, _)| name == key) else {
            // Whether TKE or the API drops an unknown key or fails on it is not documented.
            out.push(Finding {
                tke_code: None,
                ..Finding::new(
                    &c::EXTENSIVE_PARAMETERS_VALUES,
                    field,
                    "is not a CreateLoadBalancer parameter",
                    "remove it; extensiveParameters takes CLB CreateLoadBalancer parameters only",
                )
            });
            continue;
        };
        let problem =
            parameter_problem(*kind, value).or_else(|| internet_accessible_problem(key, value));
        if let Some(problem) = problem {
            out.push(Finding::new(
                &c::EXTENSIVE_PARAMETERS_VALUES,
                field,
                problem,
                "use a value the CreateLoadBalancer API documents (see docs/rules.md)",
            ));
        }
    }
}

/// `InternetAccessible`: a documented charge type and a whole number of Mbps.
fn internet_accessible_problem(key: &str, value: &serde_json::Value) -> Option<String> {
    if key != "InternetAccessible" {
        return None;
    }
    if let Some(charge) = value.get("InternetChargeType")
        && !charge
            .as_str()
            .is_some_and(|c| NETWORK_CHARGE_TYPES.contains(&c))
    {
        return Some(format!("InternetChargeType {charge} is not documented"));
    }
    let bandwidth = value.get("InternetMaxBandwidthOut");
    if bandwidth.is_some_and(|b| b.as_u64().is_none_or(|b| b < 1)) {
        return Some("InternetMaxBandwidthOut is not a whole number of Mbps".to_owned());
    }
    None
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

const SUBNET_ID_FORM: super::IdForm = super::IdForm {
    prefix: "subnet-",
    id: "subnet-xxxxxxxx id",
    ids: "ids",
};
const VPC_ID_FORM: super::IdForm = super::IdForm {
    prefix: "vpc-",
    id: "vpc-xxxxxxxx id",
    ids: "ids",
};

/// subnetId makes TKE create an internal CLB in that subnet; a value that cannot be a subnet id
/// fails with E4091, and beside existLbId it does nothing (TKE creates no CLB; the model lists
/// it as ignored).
pub fn subnet_id(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(value) = ctx.annotation(keys::SUBNET_ID) else {
        return;
    };
    let field = annotation_field(keys::SUBNET_ID);
    if ctx.clb().ignored.iter().any(|i| i.field == field) {
        out.push(Finding {
            tke_code: None,
            ..Finding::new(
                &c::SUBNET_ID,
                field,
                "does nothing beside existLbId: TKE creates no CLB",
                "remove subnetId; the existing CLB's network is chosen in the CLB console",
            )
            .with_severity(Severity::Warn)
        });
        return;
    }
    if let Some((problem, severity)) = SUBNET_ID_FORM.problem(value) {
        out.push(
            Finding::new(
                &c::SUBNET_ID,
                field,
                problem,
                "copy the subnet id (subnet-xxxxxxxx) from the VPC console, in the cluster's VPC",
            )
            .with_severity(severity),
        );
    }
}

/// cross-vpc-id and cross-region-id name a VPC and a region (docs/tke-behaviour.md §2.4).
pub fn cross_region_format(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let vpc = ctx.annotation(keys::CROSS_VPC_ID);
    if let Some((problem, _)) = vpc.and_then(|v| VPC_ID_FORM.problem(v)) {
        out.push(Finding::new(
            &c::CROSS_REGION_FORMAT,
            annotation_field(keys::CROSS_VPC_ID),
            problem,
            "copy the VPC id (vpc-xxxxxxxx) from the VPC console",
        ));
    }
    if let Some(region) = ctx
        .annotation(keys::CROSS_REGION_ID)
        .filter(|r| !is_region(r))
    {
        let problem = if is_zone(region) {
            format!("{region:?} is an availability zone, not a region")
        } else {
            format!("{region:?} is not a region like ap-guangzhou")
        };
        out.push(Finding::new(
            &c::CROSS_REGION_FORMAT,
            annotation_field(keys::CROSS_REGION_ID),
            problem,
            "name the region, e.g. ap-guangzhou (a zone such as ap-guangzhou-1 drops its number)",
        ));
    }
}

/// Text annotations whose documented values are a short list.
const ENUM_ANNOTATIONS: [(&str, &[&str]); 2] = [
    (keys::MODE, &["skip"]),
    (keys::MIX_TARGET_PREFER, &["ipv4", "ipv6"]),
];

pub fn enum_annotation(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (key, values) in ENUM_ANNOTATIONS {
        if let Some(value) = ctx.annotation(key).filter(|v| !values.contains(v)) {
            out.push(Finding::new(
                &c::ENUM_ANNOTATION,
                annotation_field(key),
                format!("{value:?} is not {}", values.join(" or ")),
                format!(
                    "use {} (lowercase), or remove the annotation",
                    values.join(" or ")
                ),
            ));
        }
    }
}

/// skip mode does not support reusing a CLB (Tencent's annotation page, docs/tke-behaviour.md §2.4);
/// with enable-group, enable-group-conflict already refuses it.
pub fn skip_mode_exist_lb(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let skip = ctx.annotation(keys::MODE) == Some("skip");
    let exist = ctx.annotations.contains_key(keys::EXIST_LB_ID);
    if skip && exist && !ctx.is_true(keys::ENABLE_GROUP) {
        out.push(Finding::new(
            &c::SKIP_MODE_EXIST_LB,
            annotation_field(keys::MODE),
            "skip is not supported on an existing CLB (existLbId)",
            "remove mode: skip, or let TKE create the CLB",
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
    const PARAMETERS: &str = "kubernetes.io/ingress.extensiveParameters";
    const SUBNET: &str = "kubernetes.io/ingress.subnetId";

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
            fires over_2048_on_a_shared_clb: http().annotate(CHARGE, "TRAFFIC_POSTPAID_BY_HOUR").annotate(BANDWIDTH, "2049");
            fires zero_warns: http().annotate(CHARGE, "TRAFFIC_POSTPAID_BY_HOUR").annotate(BANDWIDTH, "0");
            clean in_range: http().annotate(CHARGE, "TRAFFIC_POSTPAID_BY_HOUR").annotate(BANDWIDTH, "2048");
            clean one: http().annotate(CHARGE, "TRAFFIC_POSTPAID_BY_HOUR").annotate(BANDWIDTH, "1");
        }
        extensive_parameters_values: EXTENSIVE_PARAMETERS_VALUES {
            fires unknown_key: http().annotate(PARAMETERS, r#"{"ConnectTimeout":300000}"#)
                => "metadata.annotations[kubernetes.io/ingress.extensiveParameters].ConnectTimeout";
            fires bad_ip_version: http().annotate(PARAMETERS, r#"{"AddressIPVersion":"IPv5"}"#)
                => "metadata.annotations[kubernetes.io/ingress.extensiveParameters].AddressIPVersion";
            fires zone_as_region: http().annotate(PARAMETERS, r#"{"ZoneId":"ap-guangzhou"}"#);
            fires bad_sla_type: http().annotate(PARAMETERS, r#"{"SlaType":"clb.c9.huge"}"#);
            fires bandwidth_as_text: http().annotate(PARAMETERS,
                r#"{"InternetAccessible":{"InternetChargeType":"TRAFFIC_POSTPAID_BY_HOUR","InternetMaxBandwidthOut":"10"}}"#);
            clean documented_samples: http().annotate(PARAMETERS,
                r#"{"VipIsp":"CTCC","AddressIPVersion":"IPV4","SlaType":"clb.c2.medium","InternetAccessible":{"InternetChargeType":"TRAFFIC_POSTPAID_BY_HOUR","InternetMaxBandwidthOut":10}}"#);
            clean ip_version_any_case: http().annotate(PARAMETERS, r#"{"AddressIPVersion":"IPv4","ZoneId":"ap-guangzhou-1"}"#);
            clean full_chain: http().annotate(PARAMETERS, r#"{"AddressIPVersion":"IPv6FullChain"}"#);
            clean zone_number: http().annotate(PARAMETERS, r#"{"MasterZoneId":"100001"}"#);
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
        cross_region_format: CROSS_REGION_FORMAT {
            fires vpc_placeholder: http().annotate("ingress.cloud.tencent.com/cross-vpc-id", "<vpc-id>")
                .annotate("ingress.cloud.tencent.com/cross-region-id", "ap-guangzhou")
                => "metadata.annotations[ingress.cloud.tencent.com/cross-vpc-id]";
            fires zone_for_region: http().annotate("ingress.cloud.tencent.com/cross-vpc-id", "vpc-646vhcjj")
                .annotate("ingress.cloud.tencent.com/cross-region-id", "ap-guangzhou-1")
                => "metadata.annotations[ingress.cloud.tencent.com/cross-region-id]";
            clean documented_sample: http().annotate("ingress.cloud.tencent.com/cross-vpc-id", "vpc-646vhcjj")
                .annotate("ingress.cloud.tencent.com/cross-region-id", "ap-guangzhou");
        }
        subnet_id: SUBNET_ID {
            fires placeholder: http().annotate(SUBNET, "subnet-<id>") => "metadata.annotations[kubernetes.io/ingress.subnetId]";
            fires short: http().annotate(SUBNET, "subnet-3swg");
            fires beside_exist_lb: http().annotate(SUBNET, "subnet-3swgntkk").annotate(EXIST, "lb-342wppll");
            clean documented_sample: http().annotate(SUBNET, "subnet-3swgntkk");
        }
        enum_annotation: ENUM_ANNOTATION {
            fires capitalised_prefer: http().annotate("ingress.cloud.tencent.com/mix-target-prefer", "IPv4")
                => "metadata.annotations[ingress.cloud.tencent.com/mix-target-prefer]";
            fires other_mode: http().annotate("ingress.cloud.tencent.com/mode", "readonly");
            clean documented_values: http().annotate("ingress.cloud.tencent.com/mix-target-prefer", "ipv4")
                .annotate("ingress.cloud.tencent.com/mode", "skip");
        }
        skip_mode_exist_lb: SKIP_MODE_EXIST_LB {
            fires reused_clb: http().annotate("ingress.cloud.tencent.com/mode", "skip").annotate(EXIST, "lb-342wppll")
                => "metadata.annotations[ingress.cloud.tencent.com/mode]";
            clean created_clb: http().annotate("ingress.cloud.tencent.com/mode", "skip");
            clean group_is_enable_group_conflict: http().annotate("ingress.cloud.tencent.com/mode", "skip")
                .annotate(EXIST, "lb-342wppll").annotate(GROUP, "true");
        }
    }

    #[test]
    fn bandwidth_denies_only_outside_every_documented_range() {
        let with = |mbps: &str, parameters: Option<&str>| {
            let fixture = http()
                .annotate(CHARGE, "TRAFFIC_POSTPAID_BY_HOUR")
                .annotate(BANDWIDTH, mbps);
            let fixture = match parameters {
                Some(p) => fixture.annotate(PARAMETERS, p),
                None => fixture,
            };
            let decision = fixture.decide();
            (decision.allowed(), decision.findings.len())
        };
        assert_eq!(with("2049", None), (false, 1));
        assert_eq!(with("0", None), (true, 1));
        let lcu = Some(r#"{"SlaType":"clb.c2.medium"}"#);
        assert_eq!(with("10000", lcu), (true, 1));
        assert_eq!(with("61441", lcu), (false, 1));
        assert_eq!(with("-1", None), (false, 1));
    }

    #[test]
    fn a_subnet_id_denies_only_when_it_cannot_be_one() {
        assert!(
            !http()
                .annotate(SUBNET, "subnet-xxxx")
                .decide()
                .findings
                .is_empty()
        );
        assert!(http().annotate(SUBNET, "subnet-xxxx").decide().allowed());
        assert!(!http().annotate(SUBNET, "my-subnet").decide().allowed());
        let beside = http()
            .annotate(SUBNET, "my-subnet")
            .annotate(EXIST, "lb-342wppll")
            .decide();
        assert!(beside.allowed(), "{:?}", beside.findings);
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
    fn regions_and_zones() {
        for region in [
            "ap-guangzhou",
            "na-siliconvalley",
            "ap-shanghai-fsi",
            "eu-frankfurt",
        ] {
            assert!(is_region(region), "{region}");
        }
        for other in ["ap-guangzhou-1", "guangzhou", "AP-GUANGZHOU", "ap-", ""] {
            assert!(!is_region(other), "{other}");
        }
        assert!(is_zone("ap-guangzhou-1") && is_zone("100001"));
        assert!(!is_zone("ap-guangzhou") && !is_zone("guangzhou-1"));
    }

    #[test]
    fn unknown_parameters_name_no_code_and_bad_values_e4024() {
        let decision = http()
            .annotate(PARAMETERS, r#"{"ReadTimeout":9,"VipIsp":"CT"}"#)
            .decide();
        assert!(decision.allowed());
        let found = decision.findings;
        assert_eq!(found.len(), 2, "{found:?}");
        let code = |key: &str| {
            found
                .iter()
                .find(|f| f.field.ends_with(key))
                .unwrap()
                .tke_code
        };
        assert_eq!(code(".ReadTimeout"), None);
        assert_eq!(code(".VipIsp"), Some("E4024"));
    }

    #[test]
    fn security_group_ids() {
        assert!(is_security_group_id("sg-12ab34cd"));
        assert!(!is_security_group_id("sg-"));
        assert!(!is_security_group_id("12ab34cd"));
        assert!(!is_security_group_id("sg-12 ab"));
    }
}
