//! `docs/rules.md` documents every rule of the catalogue, in catalogue order, with a header line
//! that matches the catalogue and What / Why / Example / Fix; its settings example is a valid
//! settings file; the README links it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

use qcloud_ingress_webhook::rules::Severity;
use qcloud_ingress_webhook::rules::catalogue::{RULES, Rule};
use qcloud_ingress_webhook::rules::settings::{Enforcement, RuleSetting, Settings};

const DOC: &str = include_str!("../docs/rules.md");
const README: &str = include_str!("../README.md");

/// One `#`-heading of the document (outside code fences) and the lines under it.
struct Section<'a> {
    level: usize,
    title: &'a str,
    body: Vec<&'a str>,
}

fn sections(doc: &str) -> Vec<Section<'_>> {
    let mut out: Vec<Section<'_>> = Vec::new();
    let mut in_fence = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && line.starts_with('#') {
            let level = line.chars().take_while(|c| *c == '#').count();
            out.push(Section {
                level,
                title: line[level..].trim(),
                body: Vec::new(),
            });
            continue;
        }
        if let Some(section) = out.last_mut() {
            section.body.push(line);
        }
    }
    out
}

/// The line a rule's section must start with.
fn header_line(rule: &Rule) -> String {
    let severity = match rule.default_severity {
        Severity::Deny => "deny",
        Severity::Warn => "warn",
    };
    format!(
        "Check: {} · Severity: {severity} · TKE code: {}",
        rule.check,
        rule.tke_code.unwrap_or("none")
    )
}

/// The YAML code blocks of a section.
fn yaml_blocks(body: &[&str]) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in body {
        match (&mut current, line.trim_start()) {
            (None, "```yaml") => current = Some(Vec::new()),
            (Some(lines), "```") => {
                blocks.push(lines.join("\n"));
                lines.clear();
                current = None;
            }
            (Some(lines), _) => lines.push(line),
            (None, _) => {}
        }
    }
    blocks
}

/// Everything wrong with the rule sections of `doc`, one line each.
fn problems(doc: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let rule_sections: Vec<Section<'_>> =
        sections(doc).into_iter().filter(|s| s.level == 3).collect();
    let documented: Vec<&str> = rule_sections.iter().map(|s| s.title).collect();
    for rule in RULES {
        if !documented.contains(&rule.id) {
            problems.push(format!("rule {} has no `### {}` section", rule.id, rule.id));
        }
    }
    for title in &documented {
        if !RULES.iter().any(|r| r.id == *title) {
            problems.push(format!("`### {title}` names no rule in the catalogue"));
        }
    }
    let in_catalogue: Vec<&str> = RULES
        .iter()
        .map(|r| r.id)
        .filter(|id| documented.contains(id))
        .collect();
    let in_doc: Vec<&str> = documented
        .iter()
        .copied()
        .filter(|t| RULES.iter().any(|r| r.id == *t))
        .collect();
    if in_catalogue != in_doc {
        problems.push("rule sections are not in catalogue order".to_owned());
    }
    for section in &rule_sections {
        let Some(rule) = RULES.iter().find(|r| r.id == section.title) else {
            continue;
        };
        let first = section.body.iter().find(|l| !l.trim().is_empty());
        let expected = header_line(rule);
        if first.map(|l| l.trim()) != Some(expected.as_str()) {
            problems.push(format!(
                "{}: header line is {first:?}, expected {expected:?}",
                rule.id
            ));
        }
        let text = section.body.join("\n");
        let mut at = 0;
        for part in ["**What.**", "**Why.**", "**Example.**", "**Fix.**"] {
            match text[at..].find(part) {
                Some(found) => at += found + part.len(),
                None => problems.push(format!("{}: no {part} (after the previous part)", rule.id)),
            }
        }
        let blocks = yaml_blocks(&section.body);
        if blocks.is_empty() {
            problems.push(format!("{}: no ```yaml example", rule.id));
        }
        for block in blocks {
            if let Err(e) = serde_saphyr::from_str::<serde_json::Value>(&block) {
                problems.push(format!("{}: example is not YAML: {e}", rule.id));
            }
        }
    }
    problems
}

#[test]
fn every_rule_is_documented_in_order_with_a_matching_header() {
    let problems = problems(DOC);
    assert!(
        problems.is_empty(),
        "docs/rules.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_notices_missing_unknown_and_wrong_sections() {
    let first = RULES[0];
    // Drop the first rule's section.
    let start = DOC.find(&format!("### {}\n", first.id)).unwrap();
    let end = start
        + DOC[start..]
            .find(&format!("### {}\n", RULES[1].id))
            .unwrap();
    let without_first = format!("{}{}", &DOC[..start], &DOC[end..]);
    assert!(
        problems(&without_first)
            .iter()
            .any(|p| p.contains(&format!("rule {} has no", first.id))),
        "{:?}",
        problems(&without_first)
    );

    let with_extra = format!("{DOC}\n### no-such-rule\n\nCheck: C0\n");
    assert!(
        problems(&with_extra)
            .iter()
            .any(|p| p.contains("`### no-such-rule` names no rule")),
    );

    let wrong_severity = DOC.replacen(&header_line(first), "Check: C1 · Severity: sometimes", 1);
    assert!(
        problems(&wrong_severity)
            .iter()
            .any(|p| p.starts_with(&format!("{}: header line", first.id))),
    );

    // Headings inside code blocks are YAML comments, not sections.
    let fenced = format!("{DOC}\n```yaml\n### not-a-heading: 1\n```\n");
    assert!(problems(&fenced).is_empty(), "{:?}", problems(&fenced));
}

#[test]
fn declined_rows_are_explained() {
    let declined = sections(DOC)
        .into_iter()
        .find(|s| s.level == 2 && s.title == "Declined or partial")
        .expect("a Declined or partial section");
    let text = declined.body.join("\n");
    for needle in [
        "C32",
        "E4043",
        "C5",
        "ConfigMap",
        "TkeServiceConfig",
        "network mode",
    ] {
        assert!(text.contains(needle), "Declined or partial lacks {needle}");
    }
}

#[test]
fn the_settings_example_is_a_valid_settings_file() {
    let settings = sections(DOC)
        .into_iter()
        .find(|s| s.level == 2 && s.title == "Settings")
        .expect("a Settings section");
    let blocks = yaml_blocks(&settings.body);
    assert_eq!(blocks.len(), 1, "one YAML example in Settings");
    let parsed = Settings::from_yaml_str(&blocks[0]).unwrap();
    assert_eq!(parsed.enforcement, Enforcement::Enforce);
    assert_eq!(parsed.rules.get("host-grammar"), Some(&RuleSetting::Warn));
    assert_eq!(parsed.rules.get("https-only"), Some(&RuleSetting::Off));
    assert!(
        parsed
            .exempt
            .usernames
            .iter()
            .any(|u| u.ends_with(":l7-lb-controller"))
    );
    let warn = blocks[0].replacen("enforcement: enforce", "enforcement: warn", 1);
    assert_eq!(
        Settings::from_yaml_str(&warn).unwrap().enforcement,
        Enforcement::Warn
    );
    assert!(DOC.contains("## Rolling out in warn mode"));
}

#[test]
fn the_readme_links_the_rules_document() {
    assert!(
        README.contains("](docs/rules.md)"),
        "README has no link to docs/rules.md"
    );
}
