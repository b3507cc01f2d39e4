//! `docs/rules.md` documents every rule of the catalogue, in catalogue order, with a header line
//! that matches the catalogue and What / Why / Example / Fix; every example makes the engine
//! report its rule; its settings example is a valid settings file; the README links it.
//!
//! `docs/tke-behaviour.md`, the TKE behaviour reference the rules rest on: every citation of it
//! (`docs/tke-behaviour.md §N` in `src/`, `docs/`, `tests/corpus/` and the top-level Markdown, and
//! every `§N` inside it) names a section it has, and its checks table (§8) lists every rule in the
//! row the rule's `check` column names.

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
    let off = if rule.off_by_default {
        " (off by default)"
    } else {
        ""
    };
    format!(
        "Check: {} · Severity: {severity}{off} · TKE code: {}",
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
            // Several documents are allowed: see the examples' convention.
            if let Err(e) = serde_saphyr::from_multiple::<serde_json::Value>(&block) {
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

/// Citations of the TKE behaviour reference, `docs/tke-behaviour.md §N`.
mod behaviour_reference {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use super::RULES;

    const REFERENCE: &str = include_str!("../docs/tke-behaviour.md");
    /// The file name every citation names; the one greppable form is `docs/tke-behaviour.md §N`.
    const NAME: &str = "tke-behaviour.md";
    /// Where citations live: every file under these (relative to the crate root) is scanned.
    const SCANNED: [&str; 6] = [
        "src",
        "docs",
        "tests/corpus",
        "README.md",
        "CONTRIBUTING.md",
        "BENCHMARKS.md",
    ];
    /// Ways of citing the outside notes this reference replaced.
    const OUTSIDE: [&str; 3] = ["behaviour spec", "tke-ingress-behaviour", "shared/docs/tke"];

    /// The section numbers of the reference's headings: `## 2. Annotations` is `2`,
    /// `### 2.1 ...` is `2.1`. Headings inside code fences do not count.
    fn headings(doc: &str) -> BTreeSet<String> {
        super::sections(doc)
            .iter()
            .filter_map(|s| {
                let number = section_number(s.title);
                (!number.is_empty()).then_some(number)
            })
            .collect()
    }

    /// The section number at the start of `text`: digits and dots, without a final dot
    /// (`6.1.` at the end of a sentence is `6.1`); empty when `text` starts with no digit.
    fn section_number(text: &str) -> String {
        let end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        text[..end].trim_end_matches('.').to_owned()
    }

    /// The sections one run of `§` references cites, from just after `§`: `§3.2, §3.3`,
    /// `§2–§5`, `§1.6 and §11.1`, `§2.6/§3.3`. A `§` followed by no digit (`§N` in prose) cites
    /// nothing.
    fn run(mut rest: &str) -> Vec<String> {
        let mut cited = Vec::new();
        loop {
            let number = section_number(rest);
            if number.is_empty() {
                return cited;
            }
            rest = &rest[number.len()..];
            cited.push(number);
            let next = rest.trim_start_matches(|c: char| {
                c == '.' || c == ',' || c == '/' || c == '-' || c == '–' || c == ' '
            });
            let next = next.strip_prefix("and ").unwrap_or(next);
            match next.strip_prefix('§') {
                Some(after) => rest = after,
                None => return cited,
            }
        }
    }

    /// Every section `text` cites: the runs after each `tke-behaviour.md §`, and, in the
    /// reference itself (`bare`), every `§` run.
    fn citations(text: &str, bare: bool) -> Vec<String> {
        let mut cited = Vec::new();
        if bare {
            for (at, _) in text.match_indices('§') {
                cited.extend(run(&text[at + '§'.len_utf8()..]));
            }
        } else {
            let form = format!("{NAME} §");
            for (at, _) in text.match_indices(&form) {
                cited.extend(run(&text[at + form.len()..]));
            }
        }
        cited
    }

    /// Every citation in `text` of a section `reference` does not have, one line each.
    fn problems(file: &str, text: &str, bare: bool, reference: &str) -> Vec<String> {
        let sections = headings(reference);
        citations(text, bare)
            .into_iter()
            .filter(|n| !sections.contains(n))
            .map(|n| format!("{file}: cites {NAME} §{n}, which has no heading numbered {n}"))
            .collect()
    }

    fn files_under(path: &Path, out: &mut Vec<PathBuf>) {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for entry in entries {
                files_under(&entry, out);
            }
        } else if path.is_file() {
            out.push(path.to_owned());
        }
    }

    /// (path relative to the crate root, text) of every scanned text file.
    fn scanned_files() -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths = Vec::new();
        for place in SCANNED {
            files_under(&root.join(place), &mut paths);
        }
        assert!(paths.len() > 50, "found only {} files to scan", paths.len());
        paths
            .into_iter()
            .filter_map(|p| {
                let text = std::fs::read_to_string(&p).ok()?;
                let name = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                Some((name, text))
            })
            .collect()
    }

    #[test]
    fn every_cited_section_exists() {
        let mut all = Vec::new();
        let mut cited = 0;
        for (name, text) in scanned_files() {
            let bare = name.ends_with(NAME);
            cited += citations(&text, bare).len();
            all.extend(problems(&name, &text, bare, REFERENCE));
        }
        assert!(
            cited > 100,
            "only {cited} citations found: is the form still `{NAME} §N`?"
        );
        assert!(all.is_empty(), "{}", all.join("\n"));
    }

    #[test]
    fn a_citation_of_a_missing_section_fails() {
        let cite = |sections: &str| format!("see docs/{NAME} {sections}.");
        assert!(problems("ok", &cite("§3.2, §4.2 and §6.1"), false, REFERENCE).is_empty());
        assert!(problems("ok", &cite("§2–§5"), false, REFERENCE).is_empty());
        for (missing, wanted) in [
            ("§99", "99"),
            ("§6.9", "6.9"),
            ("§3.2, §11.4", "11.4"),
            ("§2–§12", "12"),
            ("§1.6 and §1.60", "1.60"),
        ] {
            let found = problems("f", &cite(missing), false, REFERENCE);
            assert_eq!(
                found,
                [format!(
                    "f: cites {NAME} §{wanted}, which has no heading numbered {wanted}"
                )],
                "{missing}"
            );
        }
        // Inside the reference every `§N` is a citation; `§N` in prose is not.
        assert!(problems("r", "as in §2.6, see `§N`", true, REFERENCE).is_empty());
        assert_eq!(problems("r", "as in §2.60", true, REFERENCE).len(), 1);
        // A heading removed from the reference makes its citations fail.
        let without = REFERENCE.replacen("### 6.1 ", "### 6.x ", 1);
        assert_eq!(problems("f", &cite("§6.1"), false, &without).len(), 1);
        // Headings in code fences are not sections.
        assert_eq!(
            problems("f", &cite("§77"), false, "```\n## 77. fenced\n```\n").len(),
            1
        );
    }

    #[test]
    fn no_citation_leads_out_of_the_repository() {
        let mut found = Vec::new();
        for (name, text) in scanned_files() {
            let lower = text.to_lowercase();
            for outside in OUTSIDE {
                if lower.contains(outside) {
                    found.push(format!("{name}: {outside:?}"));
                }
            }
        }
        assert!(found.is_empty(), "{}", found.join("\n"));
    }

    /// The rows of the checks table in §8, by check id: `| C17 | ... |`.
    fn check_rows(doc: &str) -> Vec<(&str, &str)> {
        let start = doc.find("\n## 8. ").expect("a section 8");
        let end = doc[start + 1..]
            .find("\n## ")
            .map_or(doc.len(), |e| start + 1 + e);
        doc[start..end]
            .lines()
            .filter_map(|line| {
                let id = line.strip_prefix("| C")?.split(' ').next()?;
                id.chars()
                    .all(|c| c.is_ascii_digit())
                    .then(|| (&line[2..3 + id.len()], line))
            })
            .collect()
    }

    #[test]
    fn the_checks_table_lists_every_rule_in_its_row() {
        let rows = check_rows(REFERENCE);
        let ids: Vec<&str> = rows.iter().map(|(id, _)| *id).collect();
        let expected: Vec<String> = (1..=36).map(|n| format!("C{n}")).collect();
        assert_eq!(ids, expected, "§8 has rows C1 to C36, in order");
        let mut problems = Vec::new();
        // `none`: a rule about the webhook's own annotation, not a TKE behaviour.
        for rule in RULES.iter().filter(|r| r.check != "none") {
            match rows.iter().find(|(id, _)| *id == rule.check) {
                Some((_, row)) if row.contains(&format!("`{}`", rule.id)) => {}
                Some(_) => problems.push(format!("{}: not in row {}", rule.id, rule.check)),
                None => problems.push(format!("{}: no row {}", rule.id, rule.check)),
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}

/// Executable examples: every rule's example, merged into a clean Ingress and run through the
/// real engine against a small cluster, must produce a finding of that rule.
mod examples {
    use serde_json::{Value, json};

    use qcloud_ingress_webhook::cluster::offline::add_object;
    use qcloud_ingress_webhook::cluster::{
        CertificateDetail, CloudFacts, CloudLookup, ClusterState, LoadBalancerDetail,
        SecretCertIds, ServicePortSummary, ServiceSummary, Unverified,
    };
    use qcloud_ingress_webhook::rules::settings::RuleSetting;
    use qcloud_ingress_webhook::rules::{
        Admission, AdmissionInput, Endpoint, Engine, Kind, ObjectInput, Operation, Requester,
        Settings,
    };

    use super::{DOC, RULES, sections, yaml_blocks};

    const NS: &str = "default";
    const V1: &str = "networking.k8s.io/v1";
    /// The marker of the document that is the Ingress before an UPDATE.
    const BEFORE: &str = "# before the update";

    /// The clean Ingress every example is merged into; docs/rules.md describes it in one sentence.
    fn base_ingress() -> Value {
        json!({
            "apiVersion": V1,
            "kind": "Ingress",
            "metadata": {
                "name": "web",
                "namespace": NS,
                "annotations": {"kubernetes.io/ingress.class": "qcloud"},
            },
            "spec": {"rules": [{"host": "www.example.com", "http": {"paths": [{
                "path": "/",
                "pathType": "ImplementationSpecific",
                "backend": {"service": {"name": "web", "port": {"number": 80}}},
            }]}}]},
        })
    }

    /// NodePort Services `web` and `api` (port 80, named http) and good TLS Secrets `web-cert` and
    /// `api-cert`.
    fn base_cluster() -> ClusterState {
        let mut state = ClusterState::default();
        for name in ["web", "api"] {
            state.insert_service(
                NS,
                name,
                ServiceSummary {
                    service_type: "NodePort".into(),
                    ports: vec![ServicePortSummary {
                        name: Some("http".into()),
                        port: 80,
                        node_port: None,
                    }]
                    .into(),
                    ..ServiceSummary::default()
                },
            );
        }
        for (name, id) in [("web-cert", b"Abcd1234"), ("api-cert", b"Efgh5678")] {
            state.insert_secret(
                NS,
                name,
                SecretCertIds {
                    cert_id: Some(id.to_vec()),
                    ca_cert_id: None,
                },
            );
        }
        state
    }

    /// Maps merge key by key; anything else in the fragment (a list, a string) replaces the base's.
    fn merge(base: &mut Value, fragment: &Value) {
        match (base, fragment) {
            (Value::Object(base), Value::Object(fragment)) => {
                for (key, value) in fragment {
                    match base.get_mut(key) {
                        Some(existing) => merge(existing, value),
                        None => {
                            base.insert(key.clone(), value.clone());
                        }
                    }
                }
            }
            (base, fragment) => *base = fragment.clone(),
        }
    }

    /// One example split by the convention of docs/rules.md.
    #[derive(Debug)]
    struct Example {
        /// Merged into the clean Ingress: the Ingress under review.
        fragment: Value,
        /// Merged into the clean Ingress: the object before an UPDATE.
        before: Option<Value>,
        /// Whole objects (Service, Secret, Ingress) added to the cluster.
        objects: Vec<Value>,
        /// What Tencent Cloud answers (a document with the one key `cloud`): the cloud checks
        /// are on for this example.
        cloud: Option<Value>,
    }

    impl Default for Example {
        /// The clean Ingress itself, created in the base cluster.
        fn default() -> Self {
            Self {
                fragment: json!({}),
                before: None,
                objects: Vec::new(),
                cloud: None,
            }
        }
    }

    fn parse_example(block: &str) -> Result<Example, String> {
        let mut example = Example::default();
        let mut fragments = 0;
        for document in block.split("\n---\n") {
            // A document of comments only is the clean Ingress unchanged.
            let value: Value = if document
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                json!({})
            } else {
                serde_saphyr::from_str(document).map_err(|e| format!("not YAML: {e}"))?
            };
            if document.trim_start().starts_with(BEFORE) {
                example.before = Some(value);
            } else if let Some(cloud) = value.get("cloud") {
                example.cloud = Some(cloud.clone());
            } else if let Some(kind) = value.get("kind") {
                // add_object skips other kinds silently; here that would be a dead example.
                let known = ["Service", "Secret", "Ingress"].iter().any(|k| kind == k);
                if !known || value.get("apiVersion").is_none() {
                    return Err(format!(
                        "a cluster object needs apiVersion and kind Service, Secret or Ingress, not {kind}"
                    ));
                }
                example.objects.push(value);
            } else {
                fragments += 1;
                example.fragment = value;
            }
        }
        if fragments > 1 {
            return Err(format!("{fragments} Ingress fragments; one at most"));
        }
        Ok(example)
    }

    /// The rule ids the admission function reports for an example (a CREATE, or an UPDATE
    /// when the example has a "before" document), warnings of an Ingress of another class
    /// included.
    fn fired_rules(example: &Example) -> Result<Vec<&'static str>, String> {
        let mut cluster = base_cluster();
        for object in &example.objects {
            add_object(&mut cluster, object.clone(), NS)?;
        }
        let raw = |fragment: &Value| {
            let mut object = base_ingress();
            merge(&mut object, fragment);
            serde_json::value::to_raw_value(&object).map_err(|e| e.to_string())
        };
        let new = raw(&example.fragment)?;
        let old = example.before.as_ref().map(raw).transpose()?;
        // Rules that are off by default are documented as they behave when turned on.
        let mut settings = Settings::default();
        for rule in RULES.iter().filter(|r| r.off_by_default) {
            settings.rules.insert(rule.id.to_owned(), RuleSetting::Warn);
        }
        let engine = Engine::new(settings).map_err(|e| e.to_string())?;
        let input = AdmissionInput {
            endpoint: Endpoint::Validate,
            operation: if old.is_some() {
                Operation::Update
            } else {
                Operation::Create
            },
            kind: Kind::INGRESS_V1,
            namespace: Some(NS),
            object: Some(ObjectInput::Text(&new)),
            old_object: old.as_deref().map(ObjectInput::Text),
            requester: Requester::default(),
        };
        let facts = example.cloud.as_ref().map(cloud_facts).transpose()?;
        let decision = match (engine.admit(input), facts) {
            (Admission::Decided(decision), _) => decision,
            (Admission::Pending(pending), Some(facts)) => pending.decide_with(&cluster, &facts),
            (Admission::Pending(pending), None) => pending.decide(&cluster),
        };
        Ok(decision.rule_ids())
    }

    /// The cloud's answers of an example: `vpc` (the cluster's VPC), `certificates` by id
    /// (`type`, `days` left, `domains`, `notFound: true` or `unverified`) and `loadBalancers` by id (`vpc`,
    /// `forward`, or `notFound: true`), as of now, in region ap-guangzhou, warning 30 days ahead.
    fn cloud_facts(cloud: &Value) -> Result<CloudFacts, String> {
        let now = std::time::SystemTime::now();
        let mut facts = CloudFacts {
            vpc_id: cloud["vpc"].as_str().map(str::to_owned),
            region: "ap-guangzhou".into(),
            now,
            expiry_warning_days: 30,
            ..CloudFacts::default()
        };
        let entries = |key: &str| cloud[key].as_object().cloned().unwrap_or_default();
        for (id, answer) in entries("certificates") {
            let lookup = if let Some(why) = answer["unverified"].as_str() {
                CloudLookup::Unverified(match why {
                    "timeout" => Unverified::Timeout,
                    "auth_error" => Unverified::Auth,
                    _ => Unverified::Error,
                })
            } else if answer["notFound"] == true {
                CloudLookup::NotFound
            } else {
                let days = answer["days"].as_i64().ok_or("a certificate needs days")?;
                let shift = std::time::Duration::from_secs(days.unsigned_abs() * 86_400);
                CloudLookup::Found(CertificateDetail {
                    certificate_type: answer["type"].as_str().unwrap_or("SVR").to_owned(),
                    status: None,
                    not_after: Some(if days < 0 { now - shift } else { now + shift }),
                    domains: serde_json::from_value(answer["domains"].clone()).unwrap_or_default(),
                })
            };
            facts.certificates.insert(id, lookup);
        }
        for (id, answer) in entries("loadBalancers") {
            let lookup = if answer["notFound"] == true {
                CloudLookup::NotFound
            } else {
                CloudLookup::Found(LoadBalancerDetail {
                    vpc_id: answer["vpc"].as_str().unwrap_or_default().to_owned(),
                    forward: answer["forward"].as_i64().unwrap_or(1),
                })
            };
            facts.load_balancers.insert(id, lookup);
        }
        Ok(facts)
    }

    /// Every rule whose example does not produce a finding of that rule, one line each.
    fn problems(doc: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for section in sections(doc).iter().filter(|s| s.level == 3) {
            let Some(rule) = RULES.iter().find(|r| r.id == section.title) else {
                continue;
            };
            let blocks = yaml_blocks(&section.body);
            let [block] = blocks.as_slice() else {
                problems.push(format!(
                    "{}: {} YAML examples, not one",
                    rule.id,
                    blocks.len()
                ));
                continue;
            };
            match parse_example(block).and_then(|e| fired_rules(&e)) {
                Ok(fired) if fired.contains(&rule.id) => {}
                Ok(fired) => problems.push(format!(
                    "{}: the example does not trigger it (findings: {fired:?})",
                    rule.id
                )),
                Err(e) => problems.push(format!("{}: example: {e}", rule.id)),
            }
        }
        problems
    }

    #[test]
    fn maps_merge_and_lists_replace() {
        let mut base = json!({"a": {"x": 1, "y": [1, 2]}, "b": "kept"});
        merge(&mut base, &json!({"a": {"y": [3], "z": true}}));
        assert_eq!(
            base,
            json!({"a": {"x": 1, "y": [3], "z": true}, "b": "kept"})
        );
    }

    #[test]
    fn the_clean_ingress_has_no_findings() {
        let fired = fired_rules(&Example::default()).unwrap();
        assert_eq!(fired, Vec::<&str>::new());
    }

    #[test]
    fn every_example_triggers_its_rule() {
        let problems = problems(DOC);
        assert!(
            problems.is_empty(),
            "docs/rules.md examples:\n{}",
            problems.join("\n")
        );
    }

    /// Each kind of example (validating, out of scope, UPDATE, with a cluster object) fixed in
    /// place must be reported.
    #[test]
    fn an_example_that_stops_triggering_its_rule_is_reported() {
        for (rule, from, to) in [
            (
                "boolean-annotation",
                "direct-access: \"yes\"",
                "direct-access: \"true\"",
            ),
            (
                "class-typo",
                "ingress.class: Qcloud",
                "ingress.class: nginx",
            ),
            (
                "create-only-change",
                "internetMaxBandwidthOut: \"100\"",
                "internetMaxBandwidthOut: \"10\"",
            ),
            ("backend-service-type", "type: ClusterIP", "type: NodePort"),
        ] {
            assert_eq!(DOC.matches(from).count(), 1, "{from} is not unique");
            let fixed = DOC.replacen(from, to, 1);
            let problems = problems(&fixed);
            let expected = format!("{rule}: the example does not trigger it");
            assert!(
                problems.iter().any(|p| p.starts_with(&expected)),
                "{rule}: {problems:?}"
            );
        }
        // A cluster object the engine never reads would make a dead example: it is an error.
        let config_map = DOC.replacen("kind: Service\nmetadata:", "kind: ConfigMap\nmetadata:", 1);
        assert!(
            problems(&config_map)
                .iter()
                .any(|p| p.starts_with("backend-service-type: example: a cluster object")),
            "{:?}",
            problems(&config_map)
        );
    }

    #[test]
    fn the_convention_is_documented() {
        assert!(
            DOC.contains(BEFORE),
            "docs/rules.md does not explain {BEFORE:?}"
        );
    }
}
