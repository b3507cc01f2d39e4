//! The webhook's own annotation, `qcloud-ingress-webhook.io/skip: "rule-id[,rule-id...]: reason"`:
//! an operator accepts known findings on one Ingress. [`parse`] reads it for both its users:
//! this rule, which reports a value that cannot be honoured, and the engine, which moves the
//! findings it may skip out of the verdict (`Engine::validate`, after ratcheting, before
//! enforcement). A value that cannot be read skips nothing; an unknown id skips nothing of its
//! own and is reported, the known ids beside it still count.

use crate::rules::Finding;
use crate::rules::catalogue::{self as c, RULES, Rule};
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;
use crate::rules::settings::Exceptions;
use crate::text::did_you_mean;

/// The annotation key.
pub const SKIP_KEY: &str = "qcloud-ingress-webhook.io/skip";

/// What the fix of a value that cannot be read says.
const SYNTAX: &str =
    "write rule ids, a colon and why, e.g. \"host-grammar: legacy host, see OPS-12\"";

/// One thing wrong with the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub problem: String,
    pub fix: &'static str,
}

/// The annotation as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipRequest<'a> {
    /// Known rule ids, once each, in the order written; empty when the value skips nothing.
    pub rules: Vec<&'static Rule>,
    /// The reason after the colon (trimmed); `None` when the value skips nothing.
    pub reason: Option<&'a str>,
    pub problems: Vec<Problem>,
}

/// Reads `rule-id[,rule-id...]: reason`. Rule ids never hold a colon, so the first one ends the
/// list and the reason may say anything.
pub fn parse(value: &str) -> SkipRequest<'_> {
    let mut request = SkipRequest {
        rules: Vec::new(),
        reason: None,
        problems: Vec::new(),
    };
    let problem = |problem: String, fix| Problem { problem, fix };
    let Some((ids, reason)) = value.split_once(':') else {
        let text = "is not \"rule-id[,rule-id...]: reason\"; nothing is skipped";
        request.problems.push(problem(text.into(), SYNTAX));
        return request;
    };
    let ids: Vec<&str> = ids.split(',').map(str::trim).collect();
    if ids.iter().all(|id| id.is_empty()) {
        let text = "names no rule before the colon; nothing is skipped";
        request.problems.push(problem(text.into(), SYNTAX));
        return request;
    }
    for id in ids {
        match c::by_id(id) {
            _ if id.is_empty() => request
                .problems
                .push(problem("an empty rule id in the list".into(), SYNTAX)),
            Some(rule) if rule.id == c::SKIP_ANNOTATION.id => request.problems.push(problem(
                "skip-annotation cannot skip itself".into(),
                "remove skip-annotation from the list",
            )),
            Some(rule) if !request.rules.contains(&rule) => request.rules.push(rule),
            Some(_) => {}
            None => request.problems.push(problem(
                format!(
                    "{id:?} is no rule id{}",
                    did_you_mean(id, RULES.iter().map(|r| r.id))
                ),
                "use the ids of docs/rules.md (they are in every finding)",
            )),
        }
    }
    let reason = reason.trim();
    if reason.is_empty() {
        let text = "gives no reason after the colon; nothing is skipped";
        request.problems.push(problem(
            text.into(),
            "say after the colon why the finding is accepted",
        ));
        request.rules.clear();
    } else if !request.rules.is_empty() {
        request.reason = Some(reason);
    }
    request
}

/// Reports a skip annotation that cannot be honoured as written (the engine reports a skip the
/// cluster's `exceptions` setting refuses, see [`refused`]).
pub fn skip_annotation(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(value) = ctx.annotation(SKIP_KEY) else {
        return;
    };
    for p in parse(value).problems {
        out.push(Finding::new(
            &c::SKIP_ANNOTATION,
            annotation_field(SKIP_KEY),
            p.problem,
            p.fix,
        ));
    }
}

/// The finding for a rule the annotation names but the cluster's `exceptions` setting does not
/// let it skip (`forbid`, or a deny under `warnOnly`).
pub fn refused(rule: &Rule, setting: Exceptions) -> Finding {
    let why = match setting {
        Exceptions::WarnOnly => "a deny, and exceptions: warnOnly",
        _ => "the cluster sets exceptions: forbid",
    };
    Finding::new(
        &c::SKIP_ANNOTATION,
        annotation_field(SKIP_KEY),
        format!("{} not skipped: {why}", rule.id),
        "fix what it finds, or ask the cluster operator (settings: exceptions)",
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use crate::rules::testing::{Fixture, http, rule_cases};

    fn skip(value: &str) -> Fixture {
        http().annotate(SKIP_KEY, value)
    }

    fn localhost(value: &str) -> Fixture {
        http().host("localhost").annotate(SKIP_KEY, value)
    }

    fn limited(fixture: Fixture, exceptions: Exceptions) -> Fixture {
        fixture.with_settings(|s| s.exceptions = exceptions)
    }

    rule_cases! {
        skip_annotation: SKIP_ANNOTATION {
            fires no_colon: skip("host-grammar legacy host")
                => "metadata.annotations[qcloud-ingress-webhook.io/skip]";
            fires no_reason: skip("host-grammar:  ");
            fires no_ids: skip(": because");
            fires unknown_id: skip("hots-grammar: legacy");
            fires empty_id: skip("host-grammar,,https-only: legacy");
            fires itself: skip("skip-annotation: quiet please");
            fires forbidden: limited(localhost("host-grammar: legacy"), Exceptions::Forbid);
            fires deny_under_warn_only: limited(localhost("host-grammar: legacy"), Exceptions::WarnOnly);
            clean valid: skip("host-grammar, https-only: legacy hosts, see OPS-12");
            clean skips_a_deny: localhost("host-grammar: legacy");
            clean warn_under_warn_only: limited(
                tls().remove("/metadata/annotations/kubernetes.io~1ingress.rule-mix")
                    .annotate("example.com/force-ssl-redirect", "true")
                    .annotate(SKIP_KEY, "https-only: HTTPS only on purpose"),
                Exceptions::WarnOnly);
            clean no_annotation: http();
        }
    }

    #[test]
    fn parse_reads_ids_and_a_reason_with_colons_in_it() {
        let request = parse(" host-grammar , https-only,host-grammar : see https://x.example/1 ");
        let ids: Vec<&str> = request.rules.iter().map(|r| r.id).collect();
        assert_eq!(ids, ["host-grammar", "https-only"]);
        assert_eq!(request.reason, Some("see https://x.example/1"));
        assert!(request.problems.is_empty());
    }

    #[test]
    fn unknown_ids_are_reported_and_the_known_ones_still_count() {
        let request = parse("hots-grammar, https-only: legacy");
        assert_eq!(request.rules, [&c::HTTPS_ONLY]);
        assert_eq!(request.reason, Some("legacy"));
        assert_eq!(
            request.problems[0].problem,
            "\"hots-grammar\" is no rule id (did you mean host-grammar?)"
        );
        // Nothing at all is skipped without a reason, or with only unknown ids.
        assert_eq!(parse("https-only:").reason, None);
        assert!(parse("https-only:").rules.is_empty());
        assert_eq!(parse("nope: legacy").reason, None);
        assert_eq!(parse("").reason, None);
    }

    #[test]
    fn findings_stay_under_120_characters_as_warnings() {
        for value in [
            "x",
            "a:",
            ":b",
            "hots-grammar: r",
            "skip-annotation: r",
            "a,,b: r",
        ] {
            for p in parse(value).problems {
                let line = format!("{}: {}", annotation_field(SKIP_KEY), p.problem);
                assert!(line.chars().count() <= 120, "{line}");
            }
        }
        for setting in [Exceptions::Forbid, Exceptions::WarnOnly] {
            let f = refused(&c::HOST_GRAMMAR, setting);
            let line = format!("{}: {}", f.field, f.problem);
            assert!(line.chars().count() <= 120, "{line}");
        }
    }
}
