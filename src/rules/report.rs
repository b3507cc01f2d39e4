//! Turning findings into what the person running `kubectl apply` reads: one deny message that
//! lists every deny finding, and short warnings.

use std::fmt::Write as _;

use super::{Finding, Severity, Verdict};
use crate::ingress::{IngressVersion, field_path};
use crate::text::{MAX_WARNING_CHARS, shorten};

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
    }
}

/// At most this many findings are spelled out in a deny message; the rest are counted.
const MAX_DENY_FINDINGS: usize = 10;

/// Every deny finding, `; `-separated, each led by its field path (the API server already prefixes
/// `admission webhook "…" denied the request: `):
/// `spec.rules[0].host: "localhost" has no dot (TKE would fail with E4052; fix: …) [host-grammar]`.
fn deny_message(denies: &[&Finding], version: IngressVersion) -> String {
    let mut parts: Vec<String> = denies
        .iter()
        .take(MAX_DENY_FINDINGS)
        .map(|finding| {
            let field = field_path(version, &finding.field);
            let mut part = format!("{field}: {}", finding.problem);
            let mut notes = Vec::new();
            if let Some(code) = finding.tke_code {
                notes.push(format!("TKE would fail with {code}"));
            }
            if !finding.fix.is_empty() {
                notes.push(format!("fix: {}", finding.fix));
            }
            if !notes.is_empty() {
                let _ = write!(part, " ({})", notes.join("; "));
            }
            let _ = write!(part, " [{}]", finding.rule.id);
            part
        })
        .collect();
    if denies.len() > MAX_DENY_FINDINGS {
        parts.push(format!("…and {} more", denies.len() - MAX_DENY_FINDINGS));
    }
    crate::ingress::one_line(&parts.join("; "))
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
    let line = crate::ingress::one_line(&format!("{prefix}{field}: {}{code}", finding.problem));
    shorten(&line, MAX_WARNING_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::catalogue::TLS_SECRET_MISSING;

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
