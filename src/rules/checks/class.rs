//! Which controller owns the Ingress: the class annotation, `spec.ingressClassName`, and UPDATEs
//! that move an Ingress into or out of TKE's hands (docs/tke-behaviour.md §1). These rules also
//! run on Ingresses that are not TKE's, where their findings only warn.

use crate::ingress::view::Ingress;

use crate::ingress::{QCLOUD_CLASS, is_qcloud};
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;
use crate::rules::{Finding, Operation};

/// Class values people write when they mean TKE's CLB controller.
const LOOKALIKES: [&str; 5] = ["clb", "tke", "tencent", "qcloud-clb", "tencent-clb"];

fn class_name<'a>(ingress: &'a Ingress<'_>) -> Option<&'a str> {
    ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
}

/// Equal values are valid and common (charts set both); only differing ones are a mistake, which
/// the API server refuses on create and so reaches us on UPDATE (docs/tke-behaviour.md §1.6).
pub fn class_and_class_name(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if !ctx.in_scope {
        return;
    }
    let annotation = ctx.annotation(keys::CLASS).filter(|a| !a.is_empty());
    if let (Some(a), Some(name)) = (annotation, class_name(ctx.ingress))
        && a != name
    {
        out.push(Finding::new(
            &c::CLASS_AND_CLASS_NAME,
            "spec.ingressClassName",
            format!(
                "{name:?} differs from the annotation {}: {a:?}; the API server refuses this on create",
                keys::CLASS
            ),
            "set both to qcloud, or keep only one",
        ));
    }
}

pub fn class_typo(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if ctx.in_scope {
        if ctx.annotation(keys::CLASS) == Some("") {
            out.push(Finding::new(
                &c::CLASS_TYPO,
                annotation_field(keys::CLASS),
                "is empty; TKE's handling of an empty class is undocumented",
                "set it to qcloud, or remove it",
            ));
        }
        return;
    }
    let (field, value) = match (ctx.annotation(keys::CLASS), class_name(ctx.ingress)) {
        (Some(a), _) if !a.is_empty() => (annotation_field(keys::CLASS), a),
        (_, Some(c)) => ("spec.ingressClassName".to_owned(), c),
        _ => return,
    };
    if looks_like_qcloud(value) {
        out.push(Finding::new(
            &c::CLASS_TYPO,
            field,
            format!("{value:?} is not qcloud, so TKE ignores this Ingress"),
            "write qcloud exactly, if TKE should make a CLB",
        ));
    }
}

/// `Qcloud`, ` qcloud`, `clb`, `qclod`: a class that is not `qcloud` but was likely meant to be.
fn looks_like_qcloud(value: &str) -> bool {
    let lower = value.trim().to_ascii_lowercase();
    if lower == QCLOUD_CLASS {
        return value != QCLOUD_CLASS;
    }
    LOOKALIKES.contains(&lower.as_str())
        || (lower.len() >= 4 && crate::text::edit_distance(&lower, QCLOUD_CLASS) <= 2)
}

pub fn class_change(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let (Operation::Update, Some(old)) = (ctx.operation, ctx.old) else {
        return;
    };
    let (problem, fix) = match (is_qcloud(old), ctx.in_scope) {
        (true, false) => (
            "moves this Ingress away from TKE: its CLB will be released",
            "keep class qcloud unless the CLB should go",
        ),
        (false, true) => (
            "moves this Ingress to TKE: a CLB will be created for it",
            "",
        ),
        _ => return,
    };
    out.push(Finding::new(
        &c::CLASS_CHANGE,
        changed_class_field(old, ctx.ingress),
        problem,
        fix,
    ));
}

/// The class field an UPDATE changed: `spec.ingressClassName` if it differs, else the annotation.
fn changed_class_field(old: &Ingress<'_>, new: &Ingress<'_>) -> String {
    if class_name(old) == class_name(new) {
        annotation_field(keys::CLASS)
    } else {
        "spec.ingressClassName".to_owned()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::rules::testing::*;
    use serde_json::json;

    const CLASS: &str = "kubernetes.io/ingress.class";

    /// The class only in `spec.ingressClassName`.
    fn class_name(fixture: Fixture, class: &str) -> Fixture {
        fixture
            .remove("/metadata/annotations/kubernetes.io~1ingress.class")
            .set("/spec/ingressClassName", json!(class))
    }

    rule_cases! {
        class_and_class_name: CLASS_AND_CLASS_NAME {
            fires differ: http().set("/spec/ingressClassName", json!("nginx")) => "spec.ingressClassName";
            fires differ_the_other_way: http().annotate(CLASS, "nginx").set("/spec/ingressClassName", json!("qcloud"));
            clean both_qcloud_as_charts_write_them: http().set("/spec/ingressClassName", json!("qcloud"));
            clean annotation_only: http();
            clean class_name_only: class_name(http(), "qcloud");
        }
        class_typo: CLASS_TYPO {
            fires empty_annotation: http().annotate(CLASS, "") => "metadata.annotations[kubernetes.io/ingress.class]";
            fires capitalised: http().annotate(CLASS, "Qcloud");
            fires near_miss: http().annotate(CLASS, "qclod");
            fires lookalike: http().annotate(CLASS, "clb");
            fires in_class_name: class_name(http(), "Qcloud") => "spec.ingressClassName";
            clean qcloud: http();
            clean another_controller: http().annotate(CLASS, "nginx");
        }
        class_change: CLASS_CHANGE {
            fires moved_away: http().annotate(CLASS, "nginx").updating(http()) => "metadata.annotations[kubernetes.io/ingress.class]";
            fires renamed_away: class_name(http(), "nginx").updating(http()) => "spec.ingressClassName";
            fires moved_in: http().updating(http().annotate(CLASS, "nginx"));
            clean same_class: http().updating(http());
            clean on_create: http();
        }
    }

    #[test]
    fn another_class_gets_warnings_only() {
        let typo = http().annotate(CLASS, "Qcloud").decide();
        assert!(typo.allowed() && !typo.reviewed);
        assert_eq!(typo.rule_ids(), ["class-typo"]);
        assert!(
            typo.warnings[0].contains("TKE ignores this Ingress"),
            "{:?}",
            typo.warnings
        );
        let away = http().annotate(CLASS, "nginx").updating(http()).decide();
        assert!(away.allowed());
        assert!(
            away.warnings[0].contains("CLB will be released"),
            "{:?}",
            away.warnings
        );
        // Even set to deny, a rule cannot deny an Ingress that is not TKE's.
        let strict = http()
            .annotate(CLASS, "Qcloud")
            .with_settings(|s| {
                s.rules.insert(
                    "class-typo".into(),
                    crate::rules::settings::RuleSetting::Deny,
                );
            })
            .decide();
        assert!(strict.allowed());
    }

    #[test]
    fn an_unrelated_class_is_skipped() {
        let nginx = http().annotate(CLASS, "nginx").decide();
        assert_eq!(
            nginx.outcome,
            crate::rules::Outcome::Skipped(crate::rules::Skip::OtherClass)
        );
    }
}
