//! The three layers import downwards only: the HTTP layer may use the rules and the cluster view,
//! the rules may use the cluster view's read-only trait, the cluster view uses neither; the
//! object model (`ingress`) and `text` sit below all three. The audit (`audit`) judges with the
//! rules against the cluster view, and the HTTP layer serves what it found. The driver (`drive`)
//! runs the rules against the cluster view for every front end. Front ends (`check`, `plan`,
//! `cli`) are on top. Read from the source, so a stray `use` fails here rather than in review.

#![allow(
    clippy::expect_used,
    reason = "test helpers: a failed set-up is a failed test"
)]

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// `file:line: text` of every line of code under `src/<layer>` (or in `src/<layer>.rs`, a layer
/// of one file) that contains `needle`.
fn lines_containing(layer: &str, needle: &str) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let root = src.join(layer);
    let files = if root.is_dir() {
        sources(&root)
    } else {
        vec![src.join(format!("{layer}.rs"))]
    };
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains(needle) {
                found.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

#[test]
fn layers_import_downwards_only() {
    let forbidden = [
        ("rules", "http"),
        ("rules", "check"),
        ("rules", "cli"),
        ("cluster", "rules"),
        ("cluster", "http"),
        ("cluster", "check"),
        ("cluster", "cli"),
        ("http", "check"),
        ("http", "cli"),
        ("rules", "plan"),
        ("cluster", "plan"),
        ("http", "plan"),
        ("check", "plan"),
        ("ingress", "cluster"),
        ("ingress", "rules"),
        ("ingress", "http"),
        ("ingress", "check"),
        ("ingress", "plan"),
        ("rules", "audit"),
        ("cluster", "audit"),
        ("ingress", "audit"),
        ("audit", "http"),
        ("audit", "check"),
        ("audit", "plan"),
        ("audit", "cli"),
        // The driver sits above the rules and the cluster view and below every front end.
        ("rules", "drive"),
        ("cluster", "drive"),
        ("ingress", "drive"),
        ("drive", "http"),
        ("drive", "check"),
        ("drive", "plan"),
        ("drive", "audit"),
        ("drive", "cli"),
    ];
    let found: Vec<String> = forbidden
        .iter()
        .flat_map(|(layer, module)| lines_containing(layer, &format!("crate::{module}")))
        .collect();
    assert!(
        found.is_empty(),
        "imports pointing up a layer:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_rules_layer_does_no_io() {
    let io = [
        "std::fs",
        "std::net",
        "tokio::",
        "std::io::Read",
        "std::env",
    ];
    let found: Vec<String> = io
        .iter()
        .flat_map(|path| lines_containing("rules", path))
        .collect();
    assert!(
        found.is_empty(),
        "I/O in the rules layer:\n{}",
        found.join("\n")
    );
}
