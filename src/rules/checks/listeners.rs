//! Which listener each rule lands on: rule-mix, rule-mix-both, redirects and the entries of
//! http-rules / https-rules (behaviour spec §3).

use crate::rules::Finding;
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;

pub fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let rule_mix = ctx.is_true(keys::RULE_MIX);
    let rule_mix_both = ctx.is_true(keys::RULE_MIX_BOTH);
    let has_entries = |key: &str| {
        ctx.annotation(key)
            .is_some_and(|v| !matches!(v.trim(), "" | "null" | "[]"))
    };
    if !rule_mix {
        for key in [keys::HTTP_RULES, keys::HTTPS_RULES] {
            if has_entries(key) {
                out.push(Finding::new(
                    &c::RULE_MIX_MISSING,
                    annotation_field(key),
                    "is ignored: kubernetes.io/ingress.rule-mix is not \"true\"",
                    "set kubernetes.io/ingress.rule-mix: \"true\", or remove the annotation",
                ));
            }
        }
    }
    if rule_mix && !ctx.has_certificates() {
        out.push(Finding::new(
            &c::RULE_MIX_WITHOUT_TLS,
            annotation_field(keys::RULE_MIX),
            "has no effect without spec.tls: every rule is HTTP",
            "add spec.tls with a certificate Secret, or remove rule-mix",
        ));
    }
    if rule_mix_both {
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
    if !ctx.tls.is_empty() && !rule_mix && !rule_mix_both && !ctx.is_true(keys::AUTO_REWRITE) {
        out.push(Finding::new(
            &c::HTTPS_ONLY,
            "spec.tls",
            "makes every rule HTTPS only; plain HTTP requests get no answer",
            "add rule-mix, rule-mix-both or auto-rewrite to serve or redirect HTTP",
        ));
    }
    entries(ctx, out);
}

fn entries(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let rewrite_support = ctx.is_true(keys::REWRITE_SUPPORT);
    for entry in ctx.http_entries.iter().chain(&ctx.https_entries) {
        for key in &entry.unknown_keys {
            out.push(Finding::new(
                &c::RULES_ENTRY_KEYS,
                format!("{}.{key}", entry.field()),
                "is not a key TKE reads in a rule entry",
                "use only host, path, backend{serviceName,servicePort} and rewrite",
            ));
        }
        // Without rule-mix TKE ignores the entries (rule-mix-missing says so): nothing to deny.
        if entry.has_rewrite && !rewrite_support && ctx.is_true(keys::RULE_MIX) {
            out.push(Finding::new(
                &c::REDIRECT_WITHOUT_REWRITE_SUPPORT,
                format!("{}.rewrite", entry.field()),
                "is a redirect, but ingress.cloud.tencent.com/rewrite-support is not \"true\"",
                "set ingress.cloud.tencent.com/rewrite-support: \"true\"",
            ));
        }
    }
}
