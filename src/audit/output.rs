//! Printing an audit: text (one line per finding, `namespace/name`), JSON (the `/audit` report),
//! GitHub workflow commands; the closing line counts what would be denied.

use std::fmt::Write as _;

use super::Report;

/// Output format of `audit --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Github,
}

pub fn render(format: Format, report: &Report) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => {
            // A report always serialises.
            let mut out = serde_json::to_string_pretty(report).unwrap_or_default();
            out.push('\n');
            out
        }
        Format::Github => github(report),
    }
}

fn code(report_code: Option<&str>) -> String {
    report_code.map_or_else(String::new, |c| format!(" (TKE Ingress error {c})"))
}

/// `; skipped on this Ingress: <reason>` for an entry the skip annotation skipped.
fn skipped(entry: &super::Entry) -> String {
    entry.reason.as_deref().map_or_else(String::new, |reason| {
        format!("; {}", crate::rules::skipped_note(reason))
    })
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    for e in &report.findings {
        let _ = writeln!(
            out,
            "{}/{}: {} {} {}: {}{}{}",
            e.namespace,
            e.name,
            e.severity,
            e.rule,
            e.field,
            e.message,
            code(e.tke_code),
            skipped(e)
        );
    }
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

fn github(report: &Report) -> String {
    let mut out = String::new();
    for e in &report.findings {
        let command = match e.severity {
            "deny" => "error",
            "skipped" => "notice",
            _ => "warning",
        };
        let data = format!(
            "{}/{} {}: {}{}{}",
            e.namespace,
            e.name,
            e.field,
            e.message,
            code(e.tke_code),
            skipped(e)
        )
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
        let _ = writeln!(out, "::{command} title={}::{data}", e.rule);
    }
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

/// `audited 12 qcloud Ingresses: 2 would be denied (3 deny, 4 warn findings)`.
pub fn summary_line(report: &Report) -> String {
    let count = |severity: &str| {
        report
            .findings
            .iter()
            .filter(|e| e.severity == severity)
            .count()
    };
    let ingresses = if report.ingresses == 1 {
        "Ingress"
    } else {
        "Ingresses"
    };
    let mut line = format!("audited {} qcloud {ingresses}", report.ingresses);
    let skipped = count("skipped");
    if report.findings.len() == skipped {
        line.push_str(": no problems found");
        if skipped > 0 {
            let _ = write!(line, " ({skipped} skipped on their Ingress)");
        }
    } else {
        let _ = write!(
            line,
            ": {} would be denied as they stand ({} deny, {} warn findings",
            report.denied(),
            count("deny"),
            count("warn")
        );
        if skipped > 0 {
            let _ = write!(line, ", {skipped} skipped");
        }
        line.push(')');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Entry;

    fn report() -> Report {
        Report {
            last_pass: Some("2026-12-01T18:00:00Z".into()),
            ingresses: 2,
            findings: vec![Entry {
                namespace: "shop".into(),
                name: "front".into(),
                rule: "host-grammar",
                severity: "deny",
                field: "spec.rules[0].host".into(),
                tke_code: Some("E4052"),
                message: "\"localhost\" has no dot; use a domain".into(),
                reason: None,
            }],
        }
    }

    #[test]
    fn text_names_each_ingress_and_counts_the_denied() {
        assert_eq!(
            render(Format::Text, &report()),
            "shop/front: deny host-grammar spec.rules[0].host: \"localhost\" has no dot; use a \
             domain (TKE Ingress error E4052)\naudited 2 qcloud Ingresses: 1 would be denied as \
             they stand (1 deny, 0 warn findings)\n"
        );
    }

    #[test]
    fn a_skipped_finding_is_listed_with_its_reason_and_not_counted() {
        let mut report = report();
        report.findings[0].severity = "skipped";
        report.findings[0].reason = Some("legacy host".into());
        assert_eq!(
            render(Format::Text, &report),
            "shop/front: skipped host-grammar spec.rules[0].host: \"localhost\" has no dot; use a \
             domain (TKE Ingress error E4052); skipped on this Ingress: legacy host\naudited 2 \
             qcloud Ingresses: no problems found (1 skipped on their Ingress)\n"
        );
        let value: serde_json::Value =
            serde_json::from_str(&render(Format::Json, &report)).unwrap();
        assert_eq!(value["findings"][0]["reason"], "legacy host");
        assert!(render(Format::Github, &report).starts_with("::notice title=host-grammar::"));
    }

    #[test]
    fn json_is_the_report_and_github_has_annotations() {
        let value: serde_json::Value =
            serde_json::from_str(&render(Format::Json, &report())).unwrap();
        assert_eq!(value["lastPass"], "2026-12-01T18:00:00Z");
        assert_eq!(value["findings"][0]["tkeCode"], "E4052");
        assert!(
            render(Format::Github, &report())
                .starts_with("::error title=host-grammar::shop/front spec.rules[0].host: ")
        );
    }
}
