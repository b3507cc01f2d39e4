//! The real-world corpus (`tests/corpus/`): manifests other people wrote, each checked alone as
//! `check FILE` would (default settings, no cluster), against `tests/corpus/expectations.yaml`.
//! Exact: every expected finding (rule, severity, field) and no other, the unresolved
//! references, the input error where one is expected; every file has expectations and every
//! finding a reason. A deny here that the expectations do not list is a false deny on a
//! configuration someone runs: the worst bug the webhook can have.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use qcloud_ingress_webhook::check::{self, Report};
use qcloud_ingress_webhook::rules::Settings;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    findings: Vec<ExpectedFinding>,
    #[serde(default)]
    unresolved: Vec<String>,
    /// Why a file has nothing to report (a file with findings gives a reason per finding).
    #[serde(default)]
    why: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFinding {
    rule: String,
    severity: String,
    field: String,
    why: String,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn expectations() -> BTreeMap<String, Expected> {
    let text = std::fs::read_to_string(corpus().join("expectations.yaml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

fn manifests() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| n != "expectations.yaml")
        .collect();
    names.sort();
    names
}

fn run(file: &str) -> Report {
    let options = check::Options {
        inputs: vec![corpus().join(file)],
        cluster_state: Vec::new(),
        settings: Settings::default(),
        namespace: "default".into(),
        mutate: true,
        strict: false,
        cloud: None,
    };
    check::run(&options, None, &mut std::io::empty()).unwrap()
}

/// Everything that differs between what `check` says about a file and what is expected of it.
fn differences(file: &str, expected: &Expected) -> Vec<String> {
    let report = run(file);
    let mut out = Vec::new();
    match (&expected.error, report.errors.first()) {
        (Some(want), Some(got)) if got.message.contains(want.as_str()) => {}
        (None, None) => {}
        (want, got) => out.push(format!("{file}: error {want:?}, got {got:?}")),
    }
    let got: BTreeSet<(String, String, String)> = report
        .findings
        .iter()
        .map(|f| {
            let severity = f.finding.severity.as_str().to_owned();
            (f.finding.rule.id.to_owned(), severity, f.field.clone())
        })
        .collect();
    let want: BTreeSet<(String, String, String)> = expected
        .findings
        .iter()
        .map(|f| (f.rule.clone(), f.severity.clone(), f.field.clone()))
        .collect();
    for extra in got.difference(&want) {
        out.push(format!("{file}: unexpected finding {extra:?}"));
    }
    for missing in want.difference(&got) {
        out.push(format!("{file}: expected finding not reported {missing:?}"));
    }
    let got: BTreeSet<String> = report
        .unresolved
        .iter()
        .map(|u| u.reference.to_string())
        .collect();
    let want: BTreeSet<String> = expected.unresolved.iter().cloned().collect();
    if got != want {
        out.push(format!("{file}: unresolved {got:?}, expected {want:?}"));
    }
    out
}

#[test]
fn every_corpus_file_gets_exactly_what_its_expectations_say() {
    let expectations = expectations();
    let mut problems = Vec::new();
    for file in manifests() {
        match expectations.get(&file) {
            Some(expected) => problems.extend(differences(&file, expected)),
            None => problems.push(format!("{file}: no entry in expectations.yaml")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_expectation_names_a_file_and_gives_its_reasons() {
    let files = manifests();
    assert!(files.len() >= 25, "the corpus has {} files", files.len());
    for (file, expected) in expectations() {
        assert!(files.contains(&file), "{file}: no such corpus file");
        let reasons_given = expected.findings.iter().all(|f| !f.why.trim().is_empty())
            && (!expected.findings.is_empty() || expected.why.is_some());
        assert!(
            reasons_given,
            "{file}: every finding (or the file) needs a reason"
        );
    }
}

#[test]
fn every_corpus_file_says_where_it_comes_from() {
    for file in manifests() {
        let text = std::fs::read_to_string(corpus().join(&file)).unwrap();
        assert!(
            text.starts_with("# Source:"),
            "{file}: no `# Source:` header"
        );
        assert!(text.contains("# Changes:"), "{file}: no `# Changes:` line");
    }
}
