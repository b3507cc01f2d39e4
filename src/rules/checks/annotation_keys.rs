//! Annotation keys: ones TKE does not know (typos), ones another controller reads, and ones TKE
//! writes itself.

use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;
use crate::rules::{Finding, Operation, Severity};

pub fn read_only_annotation(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if ctx.operation != Operation::Create {
        return;
    }
    // Terraform writes the CLB id TKE will report beside existLbId, so plans show no drift
    // (docs/tke-behaviour.md §2.6): that is the console's and Terraform's own shape.
    let restates_exist_lb = |key: &str| {
        key == keys::LOADBALANCE_ID && ctx.annotation(key) == ctx.annotation(keys::EXIST_LB_ID)
    };
    for key in ctx.annotations.keys() {
        // The legacy qcloud_cert_id annotation is compared with the Secret by its own rule.
        let read_only = keys::known(key).is_some_and(|k| k.read_only);
        if read_only && key != keys::QCLOUD_CERT_ID && !restates_exist_lb(key) {
            out.push(Finding::new(
                &c::READ_ONLY_ANNOTATION,
                annotation_field(key),
                "is written by TKE; a value set on create has no effect",
                "remove it from the manifest",
            ));
        }
    }
}

pub fn unknown_annotation(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    // A known key in another case is annotation-key-spelling's.
    let unknown = ctx.annotations.keys().filter(|key| {
        keys::known(key).is_none()
            && known_in_other_case(key).is_none()
            && keys::TKE_PREFIXES.iter().any(|p| key.starts_with(p))
    });
    for key in unknown {
        // The suggestion first: a warning is cut at 120 characters.
        let problem = did_you_mean(key).map_or_else(
            || "is not an annotation TKE knows".to_owned(),
            |k| format!("unknown to TKE; did you mean {k}?"),
        );
        out.push(Finding::new(
            &c::UNKNOWN_ANNOTATION,
            annotation_field(key),
            problem,
            "fix the key, or remove it",
        ));
    }
}

/// The known key that `key` spells in another case.
fn known_in_other_case(key: &str) -> Option<&'static str> {
    if keys::known(key).is_some() {
        return None;
    }
    keys::KNOWN
        .iter()
        .find(|a| a.key.eq_ignore_ascii_case(key))
        .map(|a| a.key)
}

/// Keys are case-sensitive: `kubernetes.io/Ingress.class: nginx` leaves the Ingress without a
/// class, so TKE takes an Ingress meant for another controller and builds a CLB for it. And one
/// TKE page spells rule-mix under `ingress.cloud.tencent.com/` (docs/tke-behaviour.md §2.5).
pub fn annotation_key_spelling(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (key, value) in ctx.annotations {
        let Some(real) = known_in_other_case(key) else {
            continue;
        };
        // The prefix is a DNS subdomain: the API server refuses `Kubernetes.io/...` outright,
        // so `check` says what `kubectl apply` would.
        if key
            .split_once('/')
            .is_some_and(|(prefix, _)| prefix.bytes().any(|b| b.is_ascii_uppercase()))
        {
            out.push(
                Finding::new(
                    &c::ANNOTATION_KEY_SPELLING,
                    annotation_field(key),
                    "has an upper-case prefix; the API server refuses the Ingress",
                    format!("write the key as {real}"),
                )
                .with_severity(Severity::Deny),
            );
            continue;
        }
        let claims_another_class = real == keys::CLASS
            && !value.trim().is_empty()
            && !value
                .trim()
                .eq_ignore_ascii_case(crate::ingress::QCLOUD_CLASS);
        let problem = if claims_another_class {
            format!("wrong case of {real}; TKE builds a CLB for it")
        } else {
            format!("keys are case-sensitive; TKE reads {real}")
        };
        let fix = if claims_another_class {
            format!(
                "write {real} (lowercase): without it the Ingress has no class and TKE takes it"
            )
        } else {
            format!("write the key as {real}")
        };
        out.push(Finding::new(
            &c::ANNOTATION_KEY_SPELLING,
            annotation_field(key),
            problem,
            fix,
        ));
    }
    if ctx.annotations.contains_key(keys::RULE_MIX_ALT) {
        out.push(Finding::new(
            &c::ANNOTATION_KEY_SPELLING,
            annotation_field(keys::RULE_MIX_ALT),
            format!("the key TKE documents is {}", keys::RULE_MIX),
            format!(
                "write {}; both spellings count as rule-mix here",
                keys::RULE_MIX
            ),
        ));
    }
}

pub fn nginx_annotation(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for key in ctx
        .annotations
        .keys()
        .filter(|k| k.starts_with(keys::NGINX_PREFIX))
    {
        out.push(Finding::new(
            &c::NGINX_ANNOTATION,
            annotation_field(key),
            "is an nginx-ingress annotation; TKE's CLB controller ignores it",
            "remove it, or use the qcloud equivalent if there is one",
        ));
    }
}

/// The Ingress keys of the Service annotations people copy onto Ingresses
/// (docs/tke-behaviour.md §2.3).
const SERVICE_TO_INGRESS: [(&str, &str); 3] = [
    ("service.kubernetes.io/tke-existed-lbid", keys::EXIST_LB_ID),
    (
        "service.kubernetes.io/qcloud-loadbalancer-internal-subnetid",
        keys::SUBNET_ID,
    ),
    (
        "service.cloud.tencent.com/direct-access",
        keys::DIRECT_ACCESS,
    ),
];

pub fn service_annotation(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let service_keys = ctx.annotations.keys().filter(|k| {
        k.starts_with("service.cloud.tencent.com/") || k.starts_with("service.kubernetes.io/")
    });
    for key in service_keys {
        let ingress_key = SERVICE_TO_INGRESS
            .iter()
            .find(|(service, _)| service == key)
            .map(|(_, ingress)| *ingress)
            .or_else(|| {
                let tail = key.rsplit('/').next().unwrap_or_default();
                keys::known(&format!("ingress.cloud.tencent.com/{tail}")).map(|k| k.key)
            });
        // "false" is what every Ingress boolean is when absent: removing it changes nothing, so a
        // warning would tell its reader nothing (docs/tke-behaviour.md §2.3).
        if value_is_ingress_default(ingress_key, ctx.annotation(key)) {
            continue;
        }
        let fix = match ingress_key {
            None => "remove it; it configures a Service's CLB, not an Ingress's".to_owned(),
            Some(k) if ctx.annotation(k).map(str::trim) == ctx.annotation(key).map(str::trim) => {
                format!("remove it; {k} already says the same")
            }
            Some(k) => format!("use {k} on an Ingress"),
        };
        out.push(Finding::new(
            &c::SERVICE_ANNOTATION,
            annotation_field(key),
            "is a Service annotation; TKE's Ingress controller ignores it",
            fix,
        ));
    }
}

/// A Service annotation whose Ingress counterpart is a boolean, set to `"false"`: TKE reads every
/// boolean as off unless it is `"true"`, so the Ingress is the same without it.
fn value_is_ingress_default(ingress_key: Option<&str>, value: Option<&str>) -> bool {
    ingress_key.is_some_and(keys::is_bool) && value.is_some_and(|v| v.trim() == "false")
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
    let candidates: Vec<(String, &'static str)> = keys::KNOWN
        .iter()
        .filter(|a| !a.read_only)
        .map(|a| (normal(a.key), a.key))
        .collect();
    let closest = crate::text::closest(&wanted, candidates.iter().map(|(n, _)| n.as_str()), 2)?;
    candidates
        .iter()
        .find(|(n, _)| n == closest)
        .map(|(_, key)| *key)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::testing::*;

    rule_cases! {
        read_only_annotation: READ_ONLY_ANNOTATION {
            fires lb_id_on_create: http().annotate("kubernetes.io/ingress.qcloud-loadbalance-id", "lb-12345678")
                => "metadata.annotations[kubernetes.io/ingress.qcloud-loadbalance-id]";
            clean written_by_tke_on_update: http().annotate("kubernetes.io/ingress.qcloud-loadbalance-id", "lb-12345678")
                .updating(http().annotate("kubernetes.io/ingress.qcloud-loadbalance-id", "lb-12345678"));
            clean legacy_cert_id_has_its_own_rule: tls().annotate("qcloud_cert_id", "TKPmsWb3");
            clean terraform_restates_exist_lb_id: http().annotate("kubernetes.io/ingress.qcloud-loadbalance-id", "lb-ab12cd34")
                .annotate("kubernetes.io/ingress.existLbId", "lb-ab12cd34");
        }
        unknown_annotation: UNKNOWN_ANNOTATION {
            fires misspelt: http().annotate("ingress.cloud.tencent.com/internet-charge-type", "x");
            clean known: http().annotate("ingress.cloud.tencent.com/pass-to-target", "true");
            clean idc_keys: http().annotate("ingress.cloud.tencent.com/hybrid-type", "CCN")
                .annotate("ingress.cloud.tencent.com/snat-pro-info", r#"{"snatIps":[{"subnetId":"subnet-ab12cd34"}]}"#);
            clean regex_page_rule_mix: http().annotate("ingress.cloud.tencent.com/rule-mix", "true");
            clean other_prefix: http().annotate("example.com/owner", "team-a");
        }
        service_annotation: SERVICE_ANNOTATION {
            fires existed_lb_id: http().annotate("service.kubernetes.io/tke-existed-lbid", "lb-6swtxxxx")
                => "metadata.annotations[service.kubernetes.io/tke-existed-lbid]";
            fires direct_access: http().annotate("service.cloud.tencent.com/direct-access", "true");
            clean ingress_keys: http().annotate("ingress.cloud.tencent.com/direct-access", "false");
            clean direct_access_false_is_the_default_anyway: http().annotate("service.cloud.tencent.com/direct-access", "false");
        }
        annotation_key_spelling: ANNOTATION_KEY_SPELLING {
            fires cert_manager_sample_class: http().annotate("kubernetes.io/Ingress.class", "nginx")
                .remove("/metadata/annotations/kubernetes.io~1ingress.class")
                => "metadata.annotations[kubernetes.io/Ingress.class]";
            fires mis_cased_rule_mix: http().annotate("kubernetes.io/ingress.Rule-Mix", "true");
            fires regex_page_rule_mix: http().annotate("ingress.cloud.tencent.com/rule-mix", "true")
                => "metadata.annotations[ingress.cloud.tencent.com/rule-mix]";
            clean documented_spelling: http().annotate("kubernetes.io/ingress.rule-mix", "false");
            clean other_prefix: http().annotate("example.com/Ingress.class", "nginx");
        }
        nginx_annotation: NGINX_ANNOTATION {
            fires rewrite_target: http().annotate("nginx.ingress.kubernetes.io/rewrite-target", "/");
            clean none: http();
        }
    }

    #[test]
    fn a_mis_cased_class_says_tke_builds_a_clb_and_is_not_also_unknown() {
        let fixture = http()
            .remove("/metadata/annotations/kubernetes.io~1ingress.class")
            .annotate("kubernetes.io/Ingress.class", "nginx");
        let decision = fixture.decide();
        assert_eq!(decision.findings.len(), 1, "{:?}", decision.findings);
        assert_eq!(
            decision.warnings,
            [
                "kubernetes.io/Ingress.class: wrong case of kubernetes.io/ingress.class; \
                 TKE builds a CLB for it"
            ]
        );
        let rule_mix = http().annotate("kubernetes.io/ingress.Rule-Mix", "true");
        let finding = &rule_mix.findings_of(&c::ANNOTATION_KEY_SPELLING)[0];
        assert_eq!(
            finding.problem,
            "keys are case-sensitive; TKE reads kubernetes.io/ingress.rule-mix"
        );
        assert_eq!(finding.severity, Severity::Warn);
        assert!(rule_mix.findings_of(&c::UNKNOWN_ANNOTATION).is_empty());
    }

    #[test]
    fn an_upper_case_prefix_is_what_the_api_server_refuses() {
        let decision = http()
            .annotate("Kubernetes.io/ingress.rule-mix", "true")
            .decide();
        let message = decision.deny_message.expect("denied");
        assert!(
            message.starts_with(
                "metadata.annotations[Kubernetes.io/ingress.rule-mix]: has an upper-case prefix; \
                 the API server refuses the Ingress (fix: write the key as kubernetes.io/ingress.rule-mix)"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_long_unknown_key_still_warns_in_one_short_line() {
        let decision = http()
            .annotate(
                &format!("ingress.cloud.tencent.com/{}", "x".repeat(200)),
                "v",
            )
            .decide();
        assert_eq!(decision.warnings.len(), 1);
        assert!(
            decision.warnings[0].chars().count() <= 120,
            "{}",
            decision.warnings[0]
        );
        assert!(!decision.warnings[0].contains('\n'));
    }

    #[test]
    fn a_service_annotation_names_the_ingress_key() {
        let fixture = http().annotate("service.kubernetes.io/tke-existed-lbid", "lb-6swtxxxx");
        let finding = &fixture.findings_of(&c::SERVICE_ANNOTATION)[0];
        assert_eq!(
            finding.fix,
            "use kubernetes.io/ingress.existLbId on an Ingress"
        );
        let both = fixture.annotate("kubernetes.io/ingress.existLbId", "lb-6swtxxxx");
        assert_eq!(
            both.findings_of(&c::SERVICE_ANNOTATION)[0].fix,
            "remove it; kubernetes.io/ingress.existLbId already says the same"
        );
        let unknown = http().annotate(
            "service.cloud.tencent.com/local-svc-only-bind-node-with-pod",
            "true",
        );
        assert!(
            unknown.findings_of(&c::SERVICE_ANNOTATION)[0]
                .fix
                .starts_with("remove it")
        );
    }

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
}
