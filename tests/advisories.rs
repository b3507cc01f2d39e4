//! `scripts/advisories.sh`, the release's advisory check, run against small advisory databases
//! made here in RustSec's own format (crates/<name>/RUSTSEC-*.md with a TOML front matter): one
//! with an advisory against a crate in Cargo.lock must fail naming it, one whose advisories touch
//! nothing we use must pass. The real database is not in CI (no network); the script is the same.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed set-up is a failed test"
)]

use std::path::Path;
use std::process::Command;

/// A git repository holding one advisory against `package`, fixed in `patched`.
fn advisory_db(dir: &Path, package: &str, patched: &str) {
    let crate_dir = dir.join("crates").join(package);
    std::fs::create_dir_all(&crate_dir).unwrap();
    let advisory = format!(
        "```toml\n[advisory]\nid = \"RUSTSEC-2099-0001\"\npackage = \"{package}\"\n\
         date = \"2099-01-01\"\nurl = \"https://example.invalid/RUSTSEC-2099-0001\"\n\
         categories = [\"memory-corruption\"]\n\n[versions]\npatched = [\"{patched}\"]\n```\n\n\
         # A test advisory against {package}\n\nWritten by tests/advisories.rs; not a real advisory.\n"
    );
    std::fs::write(crate_dir.join("RUSTSEC-2099-0001.md"), advisory).unwrap();
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args([
                "-c",
                "user.name=test",
                "-c",
                "user.email=test@example.invalid",
            ])
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "--quiet"]);
    git(&["add", "-A"]);
    git(&["commit", "--quiet", "-m", "advisory"]);
}

/// The script's exit code and its output.
fn run_script(db: &Path) -> (i32, String) {
    let output = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/advisories.sh"))
        .arg(db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn an_advisory_against_a_locked_crate_fails_the_check_and_is_named() {
    let db = tempfile::tempdir().unwrap();
    // arc-swap is a direct dependency; every 1.x release is "affected" here.
    advisory_db(db.path(), "arc-swap", ">= 99.0.0");
    let (code, output) = run_script(db.path());
    assert_ne!(code, 0, "{output}");
    assert!(output.contains("RUSTSEC-2099-0001"), "{output}");
    assert!(output.contains("arc-swap"), "{output}");
}

#[test]
fn advisories_that_touch_nothing_we_lock_pass() {
    let db = tempfile::tempdir().unwrap();
    advisory_db(db.path(), "a-crate-nobody-depends-on", ">= 1.0.0");
    let (code, output) = run_script(db.path());
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("advisories ok"), "{output}");
}

#[test]
fn a_missing_database_is_a_usage_error() {
    let (code, output) = run_script(Path::new("/nonexistent/advisory-db"));
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("usage:"), "{output}");
}
