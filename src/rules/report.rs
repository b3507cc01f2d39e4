//! Turning findings into what the person running `kubectl apply` reads: one deny message that
//! lists every deny finding, and short warnings.

use std::fmt::Write as _;

use super::{Finding, Severity, Verdict};
use crate::ingress::{IngressVersion, field_path};
use crate::text::{MAX_WARNING_CHARS, one_line, shorten};

/// On UPDATE, a deny the old object already had (same rule, same field) becomes a warning, so an
/// old mistake does not block unrelated edits. Only the old object's denies count: a warning such
/// as "Secret could not be read" must not excuse a real deny at the same field.
pub fn ratchet(findings: &mut [Finding], before: &[Finding]) {
    for finding in findings.iter_mut().filter(|f| f.severity == Severity::Deny) {
        if before.iter().any(|b| {
            b.severity == Severity::Deny && b.rule.id == finding.rule.id && b.field == finding.field
        }) {
            finding.severity = Severity::Warn;
            finding.ratcheted = true;
        }
    }
}

pub fn verdict(findings: Vec<Finding>, version: IngressVersion) -> Verdict {
    let denies: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Deny)
        .collect();
    let deny_message = (!denies.is_empty()).then(|| deny_message(&denies, version));
    let mut warnings: Vec<String> = Vec::new();
    for finding in findings.iter().filter(|f| f.severity == Severity::Warn) {
        let line = warning(finding, version);
        if !warnings.contains(&line) {
            warnings.push(line);
        }
    }
    Verdict {
        findings,
        deny_message,
        warnings,
        skipped: super::SkippedFindings::default(),
    }
}

/// At most this many findings are spelled out in a deny message; the rest are counted.
const MAX_DENY_FINDINGS: usize = 10;

/// Every deny finding, `; `-separated, each led by its field path (the API server already prefixes
/// `admission webhook "…" denied the request: `):
/// `spec.rules[0].host: "localhost" has no dot (TKE would fail with E4052; fix: …) [host-grammar]`.
fn deny_message(denies: &[&Finding], version: IngressVersion) -> String {
    // Written into one string: a part, a notes list and a join per finding were a tenth of a
    // denied review's time under load.
    let mut message = String::with_capacity(200 * denies.len().min(MAX_DENY_FINDINGS));
    let mut codes_said: Vec<(&str, &str)> = Vec::new();
    let mut fixes_said: Vec<(&str, &str)> = Vec::new();
    for (i, finding) in denies.iter().take(MAX_DENY_FINDINGS).enumerate() {
        if i > 0 {
            message.push_str("; ");
        }
        // A rule's code and fix are each said once; a rule that predicts a different code per
        // annotation (boolean-annotation: E4037, E4044, E4050) says every one of them.
        let id = finding.rule.id;
        let code = finding
            .tke_code
            .filter(|code| !codes_said.contains(&(id, code)));
        let fix = Some(finding.fix.as_str())
            .filter(|fix| !fix.is_empty() && !fixes_said.contains(&(id, fix)));
        codes_said.extend(code.map(|code| (id, code)));
        fixes_said.extend(fix.map(|fix| (id, fix)));
        write_deny_part(&mut message, finding, version, code, fix);
    }
    if denies.len() > MAX_DENY_FINDINGS {
        let _ = write!(message, "; …and {} more", denies.len() - MAX_DENY_FINDINGS);
    }
    one_line(&message)
}

/// `field: problem (TKE would fail with Ingress error E4052; fix: …) [rule-id]`; the code and
/// fix only where they were not said earlier in the message.
fn write_deny_part(
    out: &mut String,
    finding: &Finding,
    version: IngressVersion,
    code: Option<&str>,
    fix: Option<&str>,
) {
    let field = field_path(version, &finding.field);
    let _ = write!(out, "{field}: {}", finding.problem);
    let _ = match (code, fix) {
        (Some(code), Some(fix)) => {
            write!(
                out,
                " (TKE would fail with Ingress error {code}; fix: {fix})"
            )
        }
        (Some(code), None) => write!(out, " (TKE would fail with Ingress error {code})"),
        (None, Some(fix)) => write!(out, " (fix: {fix})"),
        (None, None) => Ok(()),
    };
    let _ = write!(out, " [{}]", finding.rule.id);
}

/// One warning line of at most 120 characters: `field: problem (E-code)`, cut at the end if it
/// must be.
pub fn warning(finding: &Finding, version: IngressVersion) -> String {
    let prefix = if finding.enforcement_warn {
        "would deny: "
    } else if finding.ratcheted {
        "already present, not denied: "
    } else {
        ""
    };
    let code = finding
        .tke_code
        .map_or_else(String::new, |c| format!(" ({c})"));
    let field = field_path(version, &finding.field);
    let line = one_line(&format!(
        "{prefix}{}: {}{code}",
        warning_field(&field),
        finding.problem
    ));
    shorten(&line, MAX_WARNING_CHARS)
}

/// The field as a warning names it: an annotation by its key alone
/// (`kubernetes.io/ingress.http-rules[0].path`, not `metadata.annotations[...][0].path`), so the
/// 120 characters go to what is wrong and not to the path.
fn warning_field(field: &str) -> std::borrow::Cow<'_, str> {
    match field
        .strip_prefix("metadata.annotations[")
        .and_then(|rest| rest.split_once(']'))
    {
        Some((key, rest)) => format!("{key}{rest}").into(),
        None => field.into(),
    }
}

/// The API server starts truncating warnings past 4096 runes in total; stay below.
const MAX_WARNINGS_TOTAL: usize = 3800;

/// A safety net for what the rules produce: the API server silently drops a warning with a
/// control character, so every warning is one line, at most 120 characters, deduplicated, and
/// the total stays under the API server's budget.
pub fn sanitize_warnings(warnings: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut total = 0;
    for warning in warnings {
        let line: String = one_line(&warning)
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        let line = shorten(&line, MAX_WARNING_CHARS);
        if line.is_empty() || out.contains(&line) {
            continue;
        }
        total += line.chars().count();
        if total > MAX_WARNINGS_TOTAL {
            break;
        }
        out.push(line);
    }
    out
}

/// Keeps a deny that is not a rule's (an object that does not decode) readable in `kubectl`.
pub fn shorten_message(message: &str) -> String {
    shorten(message, 512)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_single_short_unique_lines_within_budget() {
        let long = "w".repeat(300);
        let out = sanitize_warnings(vec![
            "spec.rules[0]: two\nlines".to_owned(),
            "bell\u{7} inside".to_owned(),
            long.clone(),
            "spec.rules[0]: two\nlines".to_owned(),
            "   ".to_owned(),
        ]);
        assert_eq!(out[0], "spec.rules[0]: two lines");
        assert_eq!(out[1], "bell inside");
        assert_eq!(out[2].chars().count(), MAX_WARNING_CHARS);
        assert!(out[2].ends_with('…'));
        assert_eq!(out.len(), 3);

        let many: Vec<String> = (0..200)
            .map(|i| format!("{i}: {}", "x".repeat(100)))
            .collect();
        let out = sanitize_warnings(many);
        let total: usize = out.iter().map(|w| w.chars().count()).sum();
        assert!(
            total <= MAX_WARNINGS_TOTAL && out.len() > 30,
            "{total} {}",
            out.len()
        );
    }

    #[test]
    fn a_warning_names_an_annotation_by_its_key_alone() {
        use crate::rules::catalogue::{RULES_ENTRY_KEYS, UNKNOWN_ANNOTATION};
        let unknown = Finding::new(
            &UNKNOWN_ANNOTATION,
            "metadata.annotations[ingress.cloud.tencent.com/internet-charge-type]",
            "unknown to TKE; did you mean kubernetes.io/ingress.internetChargeType?",
            "",
        );
        let line = warning(&unknown, IngressVersion::NetworkingV1);
        assert_eq!(
            line,
            "ingress.cloud.tencent.com/internet-charge-type: unknown to TKE; \
             did you mean kubernetes.io/ingress.internetChargeType?"
        );
        assert!(
            line.chars().count() <= MAX_WARNING_CHARS,
            "the suggestion survives the cut"
        );
        let entry = Finding::new(
            &RULES_ENTRY_KEYS,
            "metadata.annotations[kubernetes.io/ingress.http-rules][0].backend.host",
            "is not a key TKE reads in a rule entry",
            "",
        );
        assert!(
            warning(&entry, IngressVersion::NetworkingV1)
                .starts_with("kubernetes.io/ingress.http-rules[0].backend.host: ")
        );
    }

    #[test]
    fn long_decode_errors_are_cut() {
        let long = "x".repeat(2000);
        let cut = shorten_message(&long);
        assert!(cut.chars().count() <= 513);
        assert_eq!(shorten_message("short"), "short");
    }
    use crate::rules::catalogue::TLS_SECRET_MISSING;

    #[test]
    fn a_rules_code_and_fix_are_said_once() {
        use crate::rules::catalogue::BACKEND_SERVICE_MISSING;
        let missing = |i: usize| {
            Finding::new(
                &BACKEND_SERVICE_MISSING,
                format!("spec.rules[0].http.paths[{i}].backend.service.name"),
                format!("Service \"s{i}\" does not exist"),
                "create the Service first",
            )
        };
        let (a, b) = (missing(0), missing(1));
        let message = deny_message(&[&a, &b], IngressVersion::NetworkingV1);
        assert_eq!(
            message,
            "spec.rules[0].http.paths[0].backend.service.name: Service \"s0\" does not exist \
             (TKE would fail with Ingress error E4041; fix: create the Service first) \
             [backend-service-missing]; spec.rules[0].http.paths[1].backend.service.name: \
             Service \"s1\" does not exist [backend-service-missing]"
        );
    }

    #[test]
    fn notes_say_what_the_finding_has_and_more_than_ten_are_counted() {
        use crate::rules::catalogue::CLASS_AND_CLASS_NAME;
        let code_only = Finding::new(&TLS_SECRET_MISSING, "spec.tls[0].secretName", "gone", "");
        let fix_only = Finding::new(
            &CLASS_AND_CLASS_NAME,
            "spec.ingressClassName",
            "two classes",
            "drop one",
        );
        let message = deny_message(&[&code_only, &fix_only], IngressVersion::NetworkingV1);
        assert_eq!(
            message,
            "spec.tls[0].secretName: gone (TKE would fail with Ingress error E4010) \
             [tls-secret-missing]; spec.ingressClassName: two classes (fix: drop one) \
             [class-and-class-name]"
        );
        let many: Vec<Finding> = (0..12)
            .map(|i| Finding::new(&TLS_SECRET_MISSING, format!("spec.tls[{i}]"), "gone", ""))
            .collect();
        let message = deny_message(
            &many.iter().collect::<Vec<_>>(),
            IngressVersion::NetworkingV1,
        );
        assert_eq!(message.matches("[tls-secret-missing]").count(), 10);
        assert!(message.ends_with("spec.tls[9]: gone [tls-secret-missing]; …and 2 more"));
    }

    #[test]
    fn only_old_denies_ratchet() {
        let deny = Finding::new(&TLS_SECRET_MISSING, "spec.tls[0].secretName", "missing", "");
        let unreadable = deny.clone().with_severity(Severity::Warn);
        let mut findings = vec![deny.clone()];
        ratchet(&mut findings, &[unreadable]);
        assert_eq!(findings[0].severity, Severity::Deny);
        ratchet(&mut findings, &[deny]);
        assert_eq!(findings[0].severity, Severity::Warn);
        assert!(findings[0].ratcheted);
    }
}
