//! Printing `check` results: compiler-style text, JSON for machines, GitHub workflow commands.

use std::fmt::Write as _;

use serde_json::json;

use super::{Report, UnresolvedAt};
pub use crate::manifest::{FileError, STDIN_NAME};
use crate::rules::{Finding, Severity};

/// Output format of `check --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Github,
}

/// A finding with where it is.
#[derive(Debug, Clone)]
pub struct Located {
    /// The input as the user named it (`-` reads as `<stdin>`).
    pub file: String,
    /// 1-based line in that file.
    pub line: usize,
    /// 1-based document number in that file.
    pub document: usize,
    pub namespace: String,
    pub name: String,
    pub finding: Finding,
    /// The field path in the spelling of the apiVersion the manifest uses.
    pub field: String,
    /// The reason, when the Ingress's skip annotation skipped this finding: it neither denies
    /// nor warns, and is shown as `skipped`.
    pub skipped: Option<String>,
}

impl Located {
    /// `deny`, `warn`, or `skipped`.
    pub fn severity_word(&self) -> &'static str {
        if self.skipped.is_some() {
            "skipped"
        } else {
            severity_word(self.finding.severity)
        }
    }

    /// [`message`], and for a skipped finding `; skipped on this Ingress: <reason>`.
    pub fn message(&self) -> String {
        let mut text = self.finding.message();
        if let Some(reason) = &self.skipped {
            let _ = write!(text, "; {}", crate::rules::skipped_note(reason));
        }
        text
    }
}

/// Something worth knowing that is not a finding, e.g. what the `/mutate` webhook will change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub file: String,
    pub line: usize,
    pub document: usize,
    pub message: String,
}

/// Counts for the closing line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    /// qcloud Ingresses checked.
    pub ingresses: usize,
    /// Of those, the ones the webhook would deny.
    pub denied: usize,
    /// qcloud Ingresses not checked because their namespace is exempt in the settings.
    pub exempt: usize,
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Deny => "deny",
        Severity::Warn => "warn",
    }
}

/// Renders everything `check` prints on stdout.
pub fn render(format: Format, report: &Report) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => json(report),
        Format::Github => github(report),
    }
}

fn text(report: &Report) -> String {
    let (findings, notes) = (&report.findings, &report.notes);
    let mut out = String::new();
    for e in &report.errors {
        let _ = writeln!(out, "{}: error: {}", e.at(), e.message);
    }
    for n in notes {
        let _ = writeln!(out, "{}:{}: note: {}", n.file, n.line, n.message);
    }
    for f in findings {
        let _ = writeln!(
            out,
            "{}:{}: {} {} {}: {}",
            f.file,
            f.line,
            f.severity_word(),
            f.finding.rule.id,
            f.field,
            f.message()
        );
    }
    if let Some(line) = unresolved_line(report) {
        let _ = writeln!(out, "{line}");
    }
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

/// The unresolved-references line of `report`, if any.
pub fn unresolved_line(report: &Report) -> Option<String> {
    crate::manifest::unresolved_line(&report.unresolved, report.strict)
}

/// `checked 3 Ingresses in 2 files: 1 would be denied (1 deny, 2 warn findings)`.
pub fn summary_line(report: &Report) -> String {
    let (findings, summary) = (&report.findings, &report.summary);
    let denies = count(findings, Severity::Deny);
    let warns = count(findings, Severity::Warn);
    let skipped = skipped(findings);
    let mut line = format!(
        "checked {} in {}",
        plural(summary.ingresses, "qcloud Ingress", "qcloud Ingresses"),
        plural(summary.files, "file", "files")
    );
    if summary.exempt > 0 {
        let _ = write!(line, " ({} in exempt namespaces skipped)", summary.exempt);
    }
    if !report.errors.is_empty() {
        let _ = write!(
            line,
            "; {} could not be read",
            plural(report.errors.len(), "input", "inputs")
        );
    }
    if denies + warns == 0 {
        // "No problems" would be a claim about inputs nobody could read, or about nothing: a
        // wrong path in CI must not pass for ever.
        if summary.ingresses == 0 && summary.exempt == 0 && report.errors.is_empty() {
            line.push_str(": nothing was checked, the inputs hold no qcloud Ingress");
        } else if report.errors.is_empty() {
            line.push_str(": no problems found");
        }
        if skipped > 0 {
            let _ = write!(line, " ({skipped} skipped on their Ingress)");
        }
    } else {
        let _ = write!(
            line,
            ": {} would be denied ({denies} deny, {warns} warn findings",
            summary.denied,
        );
        if skipped > 0 {
            let _ = write!(line, ", {skipped} skipped");
        }
        line.push(')');
    }
    line
}

/// Findings of `severity`, not skipped.
fn count(findings: &[Located], severity: Severity) -> usize {
    findings
        .iter()
        .filter(|f| f.skipped.is_none() && f.finding.severity == severity)
        .count()
}

/// Findings the Ingresses' skip annotations skipped.
fn skipped(findings: &[Located]) -> usize {
    findings.iter().filter(|f| f.skipped.is_some()).count()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn json(report: &Report) -> String {
    let (findings, notes, summary) = (&report.findings, &report.notes, &report.summary);
    let items: Vec<_> = findings
        .iter()
        .map(|f| {
            json!({
                "file": f.file,
                "line": f.line,
                "document": f.document,
                "namespace": f.namespace,
                "name": f.name,
                "rule": f.finding.rule.id,
                "check": f.finding.rule.check,
                "severity": f.severity_word(),
                "tkeCode": f.finding.tke_code,
                "field": f.field,
                "problem": f.finding.problem,
                "fix": f.finding.fix,
                "message": f.finding.message(),
                "reason": f.skipped,
            })
        })
        .collect();
    let notes: Vec<_> = notes
        .iter()
        .map(|n| json!({"file": n.file, "line": n.line, "document": n.document, "message": n.message}))
        .collect();
    let unresolved: Vec<_> = report
        .unresolved
        .iter()
        .map(UnresolvedAt::to_json)
        .collect();
    let errors: Vec<_> = report
        .errors
        .iter()
        .map(|e| json!({"file": e.file, "line": e.line, "message": e.message}))
        .collect();
    let value = json!({
        "errors": errors,
        "findings": items,
        "notes": notes,
        "unresolved": unresolved,
        "summary": {
            "files": summary.files,
            "ingresses": summary.ingresses,
            "denied": summary.denied,
            "exempt": summary.exempt,
            "errors": report.errors.len(),
            "unresolved": report.unresolved.len(),
            "deny": count(findings, Severity::Deny),
            "warn": count(findings, Severity::Warn),
            "skipped": skipped(findings),
        },
    });
    // A `Value` always serialises.
    let mut out = serde_json::to_string_pretty(&value).unwrap_or_default();
    out.push('\n');
    out
}

/// `::error file=F,line=L,title=rule-id::field: message` per finding (GitHub workflow commands
/// become annotations on the pull request), then the summary as a plain line.
fn github(report: &Report) -> String {
    let (findings, notes) = (&report.findings, &report.notes);
    let mut out = String::new();
    for e in &report.errors {
        let mut properties = Vec::new();
        if e.file != STDIN_NAME {
            properties.push(format!("file={}", escape_property(&e.file)));
            if e.line > 0 {
                properties.push(format!("line={}", e.line));
            }
        }
        properties.push("title=unreadable input".to_owned());
        let _ = writeln!(
            out,
            "::error {}::{}",
            properties.join(","),
            escape_data(&e.message)
        );
    }
    for n in notes {
        let at = if n.file == STDIN_NAME {
            String::new()
        } else {
            format!(" file={},line={}", escape_property(&n.file), n.line)
        };
        let _ = writeln!(out, "::notice{at}::{}", escape_data(&n.message));
    }
    if let Some(line) = unresolved_line(report) {
        let command = if report.strict { "error" } else { "notice" };
        let _ = writeln!(
            out,
            "::{command} title=unresolved references::{}",
            escape_data(&line)
        );
    }
    for f in findings {
        let command = match (&f.skipped, f.finding.severity) {
            (Some(_), _) => "notice",
            (None, Severity::Deny) => "error",
            (None, Severity::Warn) => "warning",
        };
        let mut properties = Vec::new();
        // Standard input has no file to annotate.
        if f.file != STDIN_NAME {
            properties.push(format!("file={}", escape_property(&f.file)));
            properties.push(format!("line={}", f.line));
        }
        properties.push(format!("title={}", escape_property(f.finding.rule.id)));
        let _ = writeln!(
            out,
            "::{command} {}::{}",
            properties.join(","),
            escape_data(&format!("{}: {}", f.field, f.message()))
        );
    }
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

/// Workflow command data: `%`, CR and LF are escaped.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow command properties: also `:` and `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::catalogue::{HOST_GRAMMAR, LISTENER_RULE_QUOTA, PATH_GRAMMAR};

    fn located(file: &str, line: usize, finding: Finding) -> Located {
        Located {
            file: file.into(),
            line,
            document: 2,
            namespace: "default".into(),
            name: "web".into(),
            field: finding.field.clone(),
            finding,
            skipped: None,
        }
    }

    fn report(findings: Vec<Located>, summary: Summary) -> Report {
        Report {
            findings,
            summary,
            ..Report::default()
        }
    }

    fn sample() -> (Vec<Located>, Summary) {
        let findings = vec![
            located(
                "deploy/web.yaml",
                14,
                Finding::new(
                    &HOST_GRAMMAR,
                    "spec.rules[0].host",
                    "\"localhost\" has no dot",
                    "use a domain name such as www.example.com",
                ),
            ),
            located(
                "deploy/web.yaml",
                20,
                Finding::new(
                    &LISTENER_RULE_QUOTA,
                    "spec.rules",
                    "51 rules on the HTTP listener, 100% of 50",
                    "",
                ),
            ),
        ];
        let summary = Summary {
            files: 2,
            ingresses: 3,
            denied: 1,
            exempt: 0,
        };
        (findings, summary)
    }

    #[test]
    fn text_is_compiler_style_with_a_summary() {
        let (findings, summary) = sample();
        assert_eq!(
            render(Format::Text, &report(findings, summary)),
            "deploy/web.yaml:14: deny host-grammar spec.rules[0].host: \"localhost\" has no dot; \
             use a domain name such as www.example.com (TKE Ingress error E4052)\n\
             deploy/web.yaml:20: warn listener-rule-quota spec.rules: 51 rules on the HTTP \
             listener, 100% of 50 (TKE Ingress error E4005)\n\
             checked 3 qcloud Ingresses in 2 files: 1 would be denied (1 deny, 1 warn findings)\n"
        );
    }

    #[test]
    fn a_skipped_finding_says_so_and_is_not_counted_as_a_problem() {
        let (mut findings, mut summary) = sample();
        findings[0].skipped = Some("legacy host, see OPS-12".into());
        findings.truncate(1);
        summary.denied = 0;
        let text = render(Format::Text, &report(findings.clone(), summary.clone()));
        assert_eq!(
            text,
            "deploy/web.yaml:14: skipped host-grammar spec.rules[0].host: \"localhost\" has no dot; \
             use a domain name such as www.example.com (TKE Ingress error E4052); skipped on this \
             Ingress: legacy host, see OPS-12\n\
             checked 3 qcloud Ingresses in 2 files: no problems found (1 skipped on their Ingress)\n"
        );
        let value: serde_json::Value = serde_json::from_str(&render(
            Format::Json,
            &report(findings.clone(), summary.clone()),
        ))
        .unwrap();
        assert_eq!(value["findings"][0]["severity"], "skipped");
        assert_eq!(value["findings"][0]["reason"], "legacy host, see OPS-12");
        assert_eq!(value["summary"]["skipped"], 1);
        assert_eq!(value["summary"]["deny"], 0);
        let github = render(Format::Github, &report(findings, summary));
        assert!(
            github.starts_with("::notice file=deploy/web.yaml,line=14,title=host-grammar::"),
            "{github}"
        );
    }

    #[test]
    fn a_clean_run_says_so() {
        let summary = Summary {
            files: 1,
            ingresses: 1,
            denied: 0,
            exempt: 2,
        };
        assert_eq!(
            render(Format::Text, &report(Vec::new(), summary)),
            "checked 1 qcloud Ingress in 1 file (2 in exempt namespaces skipped): no problems found\n"
        );
    }

    #[test]
    fn json_has_every_field_and_the_summary() {
        let (findings, summary) = sample();
        let value: serde_json::Value =
            serde_json::from_str(&render(Format::Json, &report(findings, summary))).unwrap();
        let first = &value["findings"][0];
        assert_eq!(first["file"], "deploy/web.yaml");
        assert_eq!(first["line"], 14);
        assert_eq!(first["document"], 2);
        assert_eq!(first["rule"], "host-grammar");
        assert_eq!(first["check"], "C17");
        assert_eq!(first["severity"], "deny");
        assert_eq!(first["tkeCode"], "E4052");
        assert_eq!(first["field"], "spec.rules[0].host");
        assert_eq!(first["problem"], "\"localhost\" has no dot");
        assert_eq!(first["fix"], "use a domain name such as www.example.com");
        assert_eq!(first["namespace"], "default");
        assert_eq!(first["name"], "web");
        assert_eq!(value["findings"][1]["severity"], "warn");
        assert_eq!(value["findings"][1]["fix"], "");
        assert_eq!(
            value["summary"],
            serde_json::json!({"files": 2, "ingresses": 3, "denied": 1, "exempt": 0, "errors": 0, "unresolved": 0, "deny": 1, "warn": 1, "skipped": 0})
        );
    }

    #[test]
    fn github_annotations_escape_their_text() {
        let (mut findings, summary) = sample();
        findings[0].file = "deploy/a,b:c.yaml".into();
        let out = render(Format::Github, &report(findings, summary));
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(
            lines[0],
            "::error file=deploy/a%2Cb%3Ac.yaml,line=14,title=host-grammar::spec.rules[0].host: \
             \"localhost\" has no dot; use a domain name such as www.example.com (TKE Ingress error E4052)"
        );
        assert_eq!(
            lines[1],
            "::warning file=deploy/web.yaml,line=20,title=listener-rule-quota::spec.rules: 51 \
             rules on the HTTP listener, 100%25 of 50 (TKE Ingress error E4005)"
        );
        assert!(lines[2].starts_with("checked 3 qcloud Ingresses"), "{out}");
    }

    #[test]
    fn github_leaves_out_the_file_for_stdin() {
        let finding = Finding::new(&PATH_GRAMMAR, "spec.rules[0].http.paths[0].path", "bad", "");
        let out = render(
            Format::Github,
            &report(vec![located(STDIN_NAME, 3, finding)], Summary::default()),
        );
        assert!(
            out.starts_with(
                "::error title=path-grammar::spec.rules[0].http.paths[0].path: bad (TKE Ingress error E4031)\n"
            ),
            "{out}"
        );
    }
}
