//! Printing plans: a compact tree for terminals and pull-request comments, and JSON in the shape
//! of `docs/plan-schema.json`.

use std::fmt::Write as _;

use serde_json::json;

use super::diff::{Change, IngressDiff};
use super::{
    CertificatePlan, ClbPlan, DomainPlan, FindingPlan, IgnoredPlan, IngressPlan, RedirectPlan,
    Report, RulePlan,
};
use crate::manifest::UnresolvedAt;

/// Output format of `plan --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// The version of the JSON shape; it changes only when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// Renders everything `plan` prints on stdout.
pub fn render(format: Format, report: &Report) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => json(report),
    }
}

/// `host/path`, with `(default domain)` for an empty host.
pub fn host_path(host: &str, path: &str) -> String {
    format!("{}{path}", host_text(host))
}

fn host_text(host: &str) -> &str {
    if host.is_empty() {
        "(default domain)"
    } else {
        host
    }
}

/// `web:80 → NodePort 30080, weight 10`.
pub fn rule_text(rule: &RulePlan) -> String {
    let backend = match (&rule.service, &rule.port) {
        (Some(service), Some(port)) if !port.is_empty() => format!("{service}:{port}"),
        (Some(service), _) => format!("{service}:(no port)"),
        _ => "backend.resource".to_owned(),
    };
    let mut text = format!("{backend} → {}", rule.binds.detail);
    if let Some(weight) = &rule.weight {
        if let Some(default) = weight.default {
            let _ = write!(text, ", weight {default}");
        }
        for pods in &weight.stateful_sets {
            let _ = write!(text, ", {pods}");
        }
    }
    text
}

/// `cert TKPmsWb3 (SNI www.example.com, spec.tls[0], Secret web-cert)` or
/// `no certificate: E4040`.
pub fn cert_text(cert: &CertificatePlan) -> String {
    if cert.kind == "none" {
        return "no certificate: E4040".to_owned();
    }
    let ids = if cert.cert_ids.is_empty() {
        "?".to_owned()
    } else {
        cert.cert_ids.join(",")
    };
    let mut how = match &cert.matched {
        Some(host) => format!("SNI {host}"),
        None => "default".to_owned(),
    };
    if let Some(source) = &cert.source {
        let _ = write!(how, ", {source}");
    }
    if let Some(secret) = &cert.secret {
        let _ = write!(how, " Secret {secret}");
    }
    if let Some(problem) = &cert.problem {
        let code = cert.tke_code.map(|c| format!(": {c}")).unwrap_or_default();
        let _ = write!(how, "; {problem}{code}");
    }
    format!("cert {ids} ({how})")
}

/// `new · public · IPv4`, `existing lb-abcd1234 · internal subnet-x · shared with ns/a`.
pub fn clb_text(clb: &ClbPlan) -> String {
    let mut parts = vec![match (clb.lifecycle, &clb.id) {
        ("new", _) => "new (TKE creates it)".to_owned(),
        ("existing", Some(id)) => format!("existing {id} (existLbId)"),
        (_, Some(id)) => format!("{id} (TKE's)"),
        (other, None) => other.to_owned(),
    }];
    parts.push(match &clb.subnet {
        Some(subnet) => format!("internal, subnet {subnet}"),
        None => clb.network.to_owned(),
    });
    parts.push(match clb.ip_version.as_str() {
        "existing" => "IP version of the existing CLB".to_owned(),
        other => other.to_owned(),
    });
    if clb.enable_group {
        parts.push(if clb.shared_with.is_empty() {
            "enable-group, no other Ingress on it known".to_owned()
        } else {
            format!("enable-group, shared with {}", clb.shared_with.join(", "))
        });
    } else if !clb.shared_with.is_empty() {
        parts.push(format!("also used by {}", clb.shared_with.join(", ")));
    }
    parts.join(" · ")
}

/// What deleting the Ingress does to its CLB: one TKE created goes, with its address, unless it
/// is shared (enable-group); one named by existLbId stays and only loses this Ingress's rules.
pub fn removed_clb_text(clb: &ClbPlan) -> String {
    let id = clb.id.as_deref().unwrap_or("the CLB");
    match clb.lifecycle {
        "existing" => format!("{id} (existLbId) stays; TKE removes this Ingress's rules from it"),
        _ if clb.enable_group => {
            format!("{id} (enable-group): TKE removes this Ingress's rules from it")
        }
        _ => format!("{id} (TKE's) is deleted by TKE, and its address with it"),
    }
}

/// `→ HTTPS:443 www.example.com/ (302)`.
pub fn redirect_target(redirect: &RedirectPlan) -> String {
    let code = redirect
        .code
        .map_or_else(|| "CLB default code".to_owned(), |c| c.to_string());
    format!(
        "→ {} {} ({code})",
        redirect.to.listener,
        host_path(&redirect.to.host, &redirect.to.path)
    )
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    for e in &report.errors {
        let at = if e.line == 0 {
            e.file.clone()
        } else {
            format!("{}:{}", e.file, e.line)
        };
        let _ = writeln!(out, "{at}: error: {}", e.message);
    }
    match &report.diffs {
        Some(diffs) => diffs.iter().for_each(|d| diff_text(d, &mut out)),
        None => report.plans.iter().for_each(|p| plan_text(p, &mut out)),
    }
    if let Some(line) = unresolved_line(report) {
        let _ = writeln!(out, "{line}");
    }
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

fn plan_text(plan: &IngressPlan, out: &mut String) {
    let _ = writeln!(
        out,
        "Ingress {}/{} ({}:{}): {}",
        plan.namespace, plan.name, plan.file, plan.line, plan.verdict
    );
    let _ = writeln!(out, "  CLB {}", clb_text(&plan.clb));
    for listener in &plan.listeners {
        let name = listener.name();
        let _ = writeln!(out, "  {name}");
        if listener.domains.is_empty() {
            let redirects = plan.redirects.iter().any(|r| r.from.listener == name);
            let what = if redirects {
                "redirects only"
            } else {
                "no rules"
            };
            let _ = writeln!(out, "    ({what})");
        }
        for domain in &listener.domains {
            domain_text(domain, out);
        }
    }
    if !plan.redirects.is_empty() {
        let _ = writeln!(out, "  redirects");
    }
    for r in &plan.redirects {
        let from = host_path(&r.from.host, &r.from.path);
        let _ = writeln!(
            out,
            "    {} {from} {} [{}]",
            r.from.listener,
            redirect_target(r),
            short_origin(&r.origin)
        );
    }
    ignored_text(&plan.file, &plan.ignored, out);
    findings_text(&plan.file, &plan.findings, out);
}

/// `auto-rewrite`, `http-rules[0]`: the annotation without its prefix.
fn short_origin(field: &str) -> String {
    let inner = field.strip_prefix("metadata.annotations[").unwrap_or(field);
    let inner = inner.replacen(']', "", 1);
    ["kubernetes.io/ingress.", "ingress.cloud.tencent.com/"]
        .iter()
        .fold(inner, |text, prefix| text.replacen(prefix, "", 1))
}

fn domain_text(domain: &DomainPlan, out: &mut String) {
    let cert = domain
        .certificate
        .as_ref()
        .map(|c| format!("  {}", cert_text(c)))
        .unwrap_or_default();
    let _ = writeln!(out, "    {}{cert}", host_text(&domain.host));
    let width = domain
        .rules
        .iter()
        .map(|r| r.path.chars().count())
        .max()
        .unwrap_or(0);
    for rule in &domain.rules {
        let https = if rule.https_by_default {
            " (HTTPS: in neither http-rules nor https-rules)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "      {:width$}  {}{https}",
            rule.path,
            rule_text(rule)
        );
    }
}

fn ignored_text(file: &str, ignored: &[IgnoredPlan], out: &mut String) {
    if ignored.is_empty() {
        return;
    }
    let _ = writeln!(out, "  ignored by TKE");
    for i in ignored {
        let _ = writeln!(out, "    {file}:{}: {}: {}", i.line, i.field, i.why);
    }
}

fn findings_text(file: &str, findings: &[FindingPlan], out: &mut String) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(out, "  findings");
    for f in findings {
        let _ = writeln!(
            out,
            "    {file}:{}: {} {} {}: {}",
            f.line, f.severity, f.rule, f.field, f.message
        );
    }
}

fn diff_text(diff: &IngressDiff, out: &mut String) {
    let mark = match diff.change {
        "added" => '+',
        "removed" => '-',
        "unchanged" => '=',
        _ => '~',
    };
    let verdict = diff.verdict.map(|v| format!(": {v}")).unwrap_or_default();
    let _ = writeln!(
        out,
        "{mark} Ingress {}/{} ({}:{}) {}{verdict}",
        diff.namespace, diff.name, diff.file, diff.line, diff.change
    );
    let clb = if diff.change == "removed" {
        removed_clb_text(&diff.clb)
    } else {
        clb_text(&diff.clb)
    };
    let _ = writeln!(out, "  CLB {clb}");
    let mut listener: Option<&String> = None;
    for change in &diff.changes {
        if change.listener.as_ref() != listener {
            listener = change.listener.as_ref();
            if let Some(name) = listener {
                let _ = writeln!(out, "  {name}");
            }
        }
        let _ = writeln!(out, "    {}", change_text(change));
    }
    ignored_text(&diff.file, &diff.ignored, out);
    findings_text(&diff.file, &diff.findings, out);
}

fn change_text(change: &Change) -> String {
    let what = match (&change.host, &change.path) {
        (Some(host), Some(path)) => host_path(host, path),
        (Some(host), None) => host_text(host).to_owned(),
        _ => change.kind.to_owned(),
    };
    let what = match change.kind {
        "redirect" => format!("redirect {what}"),
        "certificate" => format!("certificate of {what}"),
        _ => what,
    };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    match change.op {
        "add" => format!("+ {what}  {}", text(&change.after)),
        "remove" => format!("- {what}  {}", text(&change.before)),
        "move" => format!(
            "> {what}  moved from {}: {}",
            text(&change.from_listener),
            text(&change.after)
        ),
        _ => format!(
            "~ {what}  {} ⇒ {}",
            text(&change.before),
            text(&change.after)
        ),
    }
}

/// The unresolved references, as `check` words them (never strict: `plan` does not fail on them).
fn unresolved_line(report: &Report) -> Option<String> {
    crate::manifest::unresolved_line(&report.unresolved, false)
}

/// `planned 3 qcloud Ingresses in 2 files: 1 would be denied`.
fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut line = match &report.diffs {
        Some(diffs) => {
            let changed = diffs.iter().filter(|d| d.change != "unchanged").count();
            format!(
                "diffed {} in {}: {changed} changed",
                plural(diffs.len(), "qcloud Ingress", "qcloud Ingresses"),
                plural(s.files, "file", "files")
            )
        }
        None => format!(
            "planned {} in {}",
            plural(s.ingresses, "qcloud Ingress", "qcloud Ingresses"),
            plural(s.files, "file", "files")
        ),
    };
    if !report.errors.is_empty() {
        let _ = write!(
            line,
            "; {} could not be read",
            plural(report.errors.len(), "input", "inputs")
        );
    }
    let _ = write!(line, "; {} would be denied", s.denied);
    line
}

fn json(report: &Report) -> String {
    let errors: Vec<_> = report
        .errors
        .iter()
        .map(|e| json!({"file": e.file, "line": e.line, "message": e.message}))
        .collect();
    let unresolved: Vec<_> = report
        .unresolved
        .iter()
        .map(UnresolvedAt::to_json)
        .collect();
    let s = &report.summary;
    let mut value = json!({
        "schemaVersion": SCHEMA_VERSION,
        "errors": errors,
        "unresolved": unresolved,
        "summary": {"files": s.files, "ingresses": s.ingresses, "denied": s.denied,
                    "errors": report.errors.len(), "unresolved": report.unresolved.len()},
    });
    if let Some(diffs) = &report.diffs {
        value["kind"] = json!("diff");
        value["ingresses"] = json!(diffs);
    } else {
        value["kind"] = json!("plan");
        value["ingresses"] = json!(report.plans);
    }
    // A `Value` always serialises.
    let mut out = serde_json::to_string_pretty(&value).unwrap_or_default();
    out.push('\n');
    out
}
