//! UPDATE-only checks: edits TKE ignores or that have effects users do not expect.

use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;
use crate::rules::{Finding, Operation};

fn is_update(ctx: &Ctx<'_>) -> bool {
    ctx.operation == Operation::Update && ctx.old.is_some()
}

pub fn create_only_change(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if !is_update(ctx) {
        return;
    }
    for known in keys::KNOWN.iter().filter(|a| a.create_only) {
        if ctx.old_annotation(known.key) != ctx.annotation(known.key) {
            out.push(Finding::new(
                &c::CREATE_ONLY_CHANGE,
                annotation_field(known.key),
                "changed, but TKE reads it only when it creates the CLB",
                "to apply it, re-create the Ingress (or change the CLB in the console)",
            ));
        }
    }
}

/// Deleting a redirect annotation leaves TKE's redirects in place; under enable-group deleting
/// auto-rewrite does turn it off, and rewrite-support is deprecated
/// (docs/tke-behaviour.md §2.6, §3.3).
pub fn redirect_deleted(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if !is_update(ctx) || ctx.is_true(keys::ENABLE_GROUP) {
        return;
    }
    for key in [keys::REWRITE_SUPPORT, keys::AUTO_REWRITE] {
        if ctx.old_annotation(key) == Some("true") && ctx.annotation(key).is_none() {
            out.push(Finding::new(
                &c::REDIRECT_DELETED,
                annotation_field(key),
                "was deleted; that does not turn redirects off",
                "set it to \"false\" instead",
            ));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::rules::testing::*;

    const SUBNET: &str = "kubernetes.io/ingress.subnetId";
    const AUTO_REWRITE: &str = "ingress.cloud.tencent.com/auto-rewrite";

    fn grouped() -> Fixture {
        http()
            .annotate("ingress.cloud.tencent.com/enable-group", "true")
            .annotate("kubernetes.io/ingress.existLbId", "lb-shared12")
    }

    rule_cases! {
        create_only_change: CREATE_ONLY_CHANGE {
            fires subnet_changed: http().annotate(SUBNET, "subnet-2").updating(http().annotate(SUBNET, "subnet-1"))
                => "metadata.annotations[kubernetes.io/ingress.subnetId]";
            fires subnet_added: http().annotate(SUBNET, "subnet-2").updating(http());
            clean unchanged: http().annotate(SUBNET, "subnet-1").updating(http().annotate(SUBNET, "subnet-1"));
            clean on_create: http().annotate(SUBNET, "subnet-1");
        }
        redirect_deleted: REDIRECT_DELETED {
            fires auto_rewrite_deleted: http().updating(http().annotate(AUTO_REWRITE, "true"))
                => "metadata.annotations[ingress.cloud.tencent.com/auto-rewrite]";
            clean set_to_false: http().annotate(AUTO_REWRITE, "false").updating(http().annotate(AUTO_REWRITE, "true"));
            clean deleted_in_a_group: grouped().updating(grouped().annotate(AUTO_REWRITE, "true"));
        }
    }
}
