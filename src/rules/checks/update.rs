//! UPDATE-only checks: edits TKE ignores or that have effects users do not expect.

use k8s_openapi::api::networking::v1::Ingress;

use crate::rules::Finding;
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;

pub fn check(ctx: &Ctx<'_>, old: &Ingress, out: &mut Vec<Finding>) {
    let old_value = |key: &str| {
        old.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    };
    for known in keys::KNOWN.iter().filter(|a| a.create_only) {
        let (before, after) = (old_value(known.key), ctx.annotation(known.key));
        if before != after {
            out.push(Finding::new(
                &c::CREATE_ONLY_CHANGE,
                annotation_field(known.key),
                "changed, but TKE reads it only when it creates the CLB",
                "to apply it, re-create the Ingress (or change the CLB in the console)",
            ));
        }
    }
    for key in [keys::REWRITE_SUPPORT, keys::AUTO_REWRITE] {
        if old_value(key) == Some("true") && ctx.annotation(key).is_none() {
            out.push(Finding::new(
                &c::REDIRECT_DELETED,
                annotation_field(key),
                "was deleted; that does not turn redirects off",
                "set it to \"false\" instead",
            ));
        }
    }
    if !crate::ingress::is_qcloud(old) {
        out.push(Finding::new(
            &c::CLASS_CHANGE,
            crate::rules::changed_class_field(old, ctx.ingress),
            "moves this Ingress to TKE: a CLB will be created for it",
            "",
        ));
    }
}
