//! Which listener each rule lands on: rule-mix, rule-mix-both, redirects and the entries of
//! http-rules / https-rules (behaviour spec §3).

use crate::rules::Finding;
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;

/// True when a rules annotation lists at least one entry.
fn has_entries(ctx: &Ctx<'_>, key: &str) -> bool {
    ctx.annotation(key)
        .is_some_and(|v| !matches!(v.trim(), "" | "null" | "[]"))
}

pub fn rule_mix_missing(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if ctx.is_true(keys::RULE_MIX) {
        return;
    }
    for key in [keys::HTTP_RULES, keys::HTTPS_RULES] {
        if has_entries(ctx, key) {
            out.push(Finding::new(
                &c::RULE_MIX_MISSING,
                annotation_field(key),
                "is ignored: kubernetes.io/ingress.rule-mix is not \"true\"",
                "set kubernetes.io/ingress.rule-mix: \"true\", or remove the annotation",
            ));
        }
    }
}

pub fn rule_mix_without_tls(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if ctx.is_true(keys::RULE_MIX) && !ctx.has_certificates() {
        out.push(Finding::new(
            &c::RULE_MIX_WITHOUT_TLS,
            annotation_field(keys::RULE_MIX),
            "has no effect without spec.tls: every rule is HTTP",
            "add spec.tls with a certificate Secret, or remove rule-mix",
        ));
    }
}

pub fn rule_mix_both_conflict(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if !ctx.is_true(keys::RULE_MIX_BOTH) {
        return;
    }
    for key in [keys::RULE_MIX, keys::REWRITE_SUPPORT, keys::AUTO_REWRITE] {
        if ctx.is_true(key) {
            out.push(Finding::new(
                &c::RULE_MIX_BOTH_CONFLICT,
                annotation_field(key),
                format!("cannot be combined with {}: \"true\"", keys::RULE_MIX_BOTH),
                "use rule-mix-both alone, or drop it and list rules in http-rules/https-rules",
            ));
        }
    }
}

pub fn https_only(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let serves_http = [keys::RULE_MIX, keys::RULE_MIX_BOTH, keys::AUTO_REWRITE]
        .iter()
        .any(|key| ctx.is_true(key));
    if !ctx.tls.is_empty() && !serves_http {
        out.push(Finding::new(
            &c::HTTPS_ONLY,
            "spec.tls",
            "makes every rule HTTPS only; plain HTTP requests get no answer",
            "add rule-mix, rule-mix-both or auto-rewrite to serve or redirect HTTP",
        ));
    }
}

pub fn rules_entry_keys(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for entry in ctx.http_entries.iter().chain(&ctx.https_entries) {
        for key in &entry.unknown_keys {
            out.push(Finding::new(
                &c::RULES_ENTRY_KEYS,
                format!("{}.{key}", entry.field()),
                "is not a key TKE reads in a rule entry",
                "use only host, path, backend{serviceName,servicePort} and rewrite",
            ));
        }
    }
}

pub fn redirect_without_rewrite_support(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    // Without rule-mix TKE ignores the entries (rule-mix-missing says so): nothing to deny.
    if ctx.is_true(keys::REWRITE_SUPPORT) || !ctx.is_true(keys::RULE_MIX) {
        return;
    }
    for entry in ctx.http_entries.iter().chain(&ctx.https_entries) {
        if entry.has_rewrite {
            out.push(Finding::new(
                &c::REDIRECT_WITHOUT_REWRITE_SUPPORT,
                format!("{}.rewrite", entry.field()),
                "is a redirect, but ingress.cloud.tencent.com/rewrite-support is not \"true\"",
                "set ingress.cloud.tencent.com/rewrite-support: \"true\"",
            ));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::rules::testing::*;
    use serde_json::json;

    const HTTP_RULES: &str = "kubernetes.io/ingress.http-rules";
    const ENTRY: &str = r#"[{"host":"www.example.com","path":"/","backend":{"serviceName":"web","servicePort":"80"}}]"#;
    const REDIRECT: &str = r#"[{"path":"/old","rewrite":{"port":443,"path":"/new"}}]"#;

    fn with_tls_only(fixture: Fixture) -> Fixture {
        fixture.set(
            "/spec/tls",
            json!([{"hosts": ["www.example.com"], "secretName": "cert"}]),
        )
    }

    rule_cases! {
        rule_mix_missing: RULE_MIX_MISSING {
            fires entries_without_rule_mix: http().annotate(HTTP_RULES, ENTRY) => "metadata.annotations[kubernetes.io/ingress.http-rules]";
            fires redirects_without_rule_mix: http().annotate(HTTP_RULES, REDIRECT);
            clean null: http().annotate(HTTP_RULES, "null");
            clean with_rule_mix: tls().annotate(HTTP_RULES, ENTRY);
        }
        rule_mix_without_tls: RULE_MIX_WITHOUT_TLS {
            fires no_certificates: http().annotate("kubernetes.io/ingress.rule-mix", "true");
            clean with_tls: tls();
        }
        rule_mix_both_conflict: RULE_MIX_BOTH_CONFLICT {
            fires with_rule_mix: tls().annotate("kubernetes.io/ingress.rule-mix-both", "true")
                => "metadata.annotations[kubernetes.io/ingress.rule-mix]";
            clean alone: with_tls_only(http()).annotate("kubernetes.io/ingress.rule-mix-both", "true");
        }
        https_only: HTTPS_ONLY {
            fires tls_without_rule_mix: with_tls_only(http()) => "spec.tls";
            clean rule_mix: tls();
            clean auto_rewrite: with_tls_only(http()).annotate("ingress.cloud.tencent.com/auto-rewrite", "true");
        }
        rules_entry_keys: RULES_ENTRY_KEYS {
            fires host_inside_backend: tls().annotate(HTTP_RULES,
                r#"[{"host":"www.example.com","path":"/","backend":{"serviceName":"web","servicePort":"80","host":"x"}}]"#)
                => "metadata.annotations[kubernetes.io/ingress.http-rules][0].backend.host";
            clean documented_keys: tls().annotate(HTTP_RULES, ENTRY);
        }
        redirect_without_rewrite_support: REDIRECT_WITHOUT_REWRITE_SUPPORT {
            fires redirect_entry: tls().annotate(HTTP_RULES, REDIRECT)
                => "metadata.annotations[kubernetes.io/ingress.http-rules][0].rewrite";
            clean with_rewrite_support: tls().annotate(HTTP_RULES, REDIRECT)
                .annotate("ingress.cloud.tencent.com/rewrite-support", "true");
            clean ignored_without_rule_mix: http().annotate(HTTP_RULES, REDIRECT);
        }
    }

    #[test]
    fn ignored_redirect_entries_only_warn() {
        let decision = http().annotate(HTTP_RULES, REDIRECT).decide();
        assert!(decision.allowed());
        assert_eq!(decision.rule_ids(), ["rule-mix-missing"]);
    }
}
