//! `docs/rules.md` documents every rule of the catalogue, in catalogue order, with a header line
//! that matches the catalogue and What / Why / Example / Fix; every example makes the engine
//! report its rule; its settings example is a valid settings file; the README links it.

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

/// Executable examples: every rule's example, merged into a clean Ingress and run through the
/// real engine against a small cluster, must produce a finding of that rule.
mod examples {
    use serde_json::{Value, json};

    use qcloud_ingress_webhook::cluster::offline::add_object;
    use qcloud_ingress_webhook::cluster::{
        ClusterState, SecretCertIds, ServicePortSummary, ServiceSummary,
    };
    use qcloud_ingress_webhook::rules::settings::RuleSetting;
    use qcloud_ingress_webhook::rules::{
        AdmissionInput, Endpoint, Engine, Kind, ObjectInput, Operation, Requester, Settings,
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
                    }],
                    existed_lb_id: None,
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
    }

    impl Default for Example {
        /// The clean Ingress itself, created in the base cluster.
        fn default() -> Self {
            Self {
                fragment: json!({}),
                before: None,
                objects: Vec::new(),
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
        Ok(engine.admit_with(input, &cluster).rule_ids())
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
