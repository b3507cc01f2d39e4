//! `check` through the real binary: every input form (file, directory, stdin, `kind: List`), every
//! output form with its line numbers, the exit codes, and helm-rendered charts piped through stdin.
//! Fixtures: tests/fixtures/check/ (the binary runs there, so file names in output are relative).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;
mod helm;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Run;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check")
}

/// Runs `check ARGS` in the fixtures directory, with `stdin` on standard input.
fn check(args: &[&str], stdin: Option<&str>) -> Run {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    common::run_binary(&all, &fixtures(), stdin.unwrap_or_default())
}

/// The 1-based line of the first line of `text` that contains `needle`.
fn line_in(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not found"))
        + 1
}

/// The 1-based line of `needle` in a fixture file.
fn line_of(fixture: &str, needle: &str) -> usize {
    line_in(
        &std::fs::read_to_string(fixtures().join(fixture)).unwrap(),
        needle,
    )
}

fn read_fixture(fixture: &str) -> String {
    std::fs::read_to_string(fixtures().join(fixture)).unwrap()
}

/// Asserts that some output line starts with `prefix`, and returns it.
fn line_starting<'a>(output: &'a str, prefix: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{output}"))
}

// ---------------------------------------------------------------------------------------------
// Plumbing: input forms, counts, exit 0 and 2. These need no rule to fire.

#[test]
fn a_clean_file_exits_0_and_other_controllers_ingresses_are_not_checked() {
    let run = check(&["clean/app.yaml"], None);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout, "checked 1 qcloud Ingress in 1 file: no problems found\n",
        "the nginx Ingress with a bad host is not ours"
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn every_input_form_is_read_and_counted() {
    let json = |args: &[&str], stdin: Option<&str>| {
        let run = check(args, stdin);
        assert_ne!(run.code, 2, "{}", run.stderr);
        let value: Value = serde_json::from_str(&run.stdout).unwrap();
        (
            value["summary"]["files"].clone(),
            value["summary"]["ingresses"].clone(),
        )
    };
    // A directory: *.yml and *.json (a kind: List) in subdirectories; notes.txt is skipped.
    assert_eq!(
        json(&["--output", "json", "tree"], None),
        (2.into(), 2.into())
    );
    // A kind: List in YAML holding Services, Secrets and two Ingresses.
    assert_eq!(
        json(&["--output", "json", "tls.yaml"], None),
        (1.into(), 2.into())
    );
    // Standard input, beside a file.
    let text = read_fixture("broken.yaml");
    assert_eq!(
        json(&["--output", "json", "-", "clean"], Some(&text)),
        (2.into(), 2.into())
    );
}

#[test]
fn an_unusable_input_is_reported_and_the_others_are_still_checked_then_exit_2() {
    let run = check(&["clean", "unreadable/bad.yaml", "tls.yaml"], None);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stderr, "");
    let line = line_of("unreadable/bad.yaml", "[unclosed");
    line_starting(
        &run.stdout,
        &format!("unreadable/bad.yaml:{line}: error: document 2: unclosed bracket"),
    );
    // tls.yaml was still checked after the broken file.
    assert!(run.stdout.contains("tls.yaml:"), "{}", run.stdout);
    assert_eq!(
        run.stdout.lines().last(),
        Some(
            "checked 3 qcloud Ingresses in 3 files; 1 input could not be read: 1 would be denied \
             (1 deny, 0 warn findings)"
        ),
        "{}",
        run.stdout
    );

    // The same in JSON: the error is there, beside the findings.
    let json_run = check(
        &[
            "--output",
            "json",
            "clean",
            "unreadable/bad.yaml",
            "tls.yaml",
        ],
        None,
    );
    assert_eq!(json_run.code, 2);
    let value: Value = serde_json::from_str(&json_run.stdout).unwrap();
    assert_eq!(value["errors"][0]["file"], "unreadable/bad.yaml");
    assert_eq!(value["errors"][0]["line"], line);
    assert_eq!(value["summary"]["errors"], 1);
    assert!(!value["findings"].as_array().unwrap().is_empty());

    let github = check(&["--output", "github", "unreadable/bad.yaml"], None);
    assert_eq!(github.code, 2);
    line_starting(
        &github.stdout,
        &format!(
            "::error file=unreadable/bad.yaml,line={line},title=unreadable input::document 2:"
        ),
    );

    let stdin = check(&["-"], Some("kind: Service\n---\nmetadata: {name: [\n"));
    assert_eq!(stdin.code, 2);
    line_starting(&stdin.stdout, "<stdin>:3: error: document 2: ");

    // Valid YAML that is not a valid object.
    let invalid = check(
        &["-"],
        Some("apiVersion: networking.k8s.io/v1\nkind: Ingress\nspec: {rules: nope}\n"),
    );
    assert_eq!(invalid.code, 2);
    line_starting(&invalid.stdout, "<stdin>:1: error: document 1: ");

    let missing = check(&["no-such-file.yaml", "clean"], None);
    assert_eq!(missing.code, 2);
    line_starting(&missing.stdout, "no-such-file.yaml: error: ");
}

#[test]
fn a_field_of_the_wrong_shape_is_named_and_nothing_claims_no_problems() {
    let tls_as_mapping = check(
        &["-"],
        Some(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\n\
             spec:\n  tls:\n    hosts: [www.example.com]\n    secretName: web-cert\n",
        ),
    );
    assert_eq!(tls_as_mapping.code, 2);
    let error = line_starting(&tls_as_mapping.stdout, "<stdin>:1: error: document 1: ");
    assert!(
        error.ends_with(
            "object is not a valid Ingress: spec.tls: invalid type: map, expected a sequence"
        ),
        "{error}"
    );
    let summary = line_starting(&tls_as_mapping.stdout, "checked ");
    assert_eq!(
        summary,
        "checked 0 qcloud Ingresses in 1 file; 1 input could not be read"
    );
}

#[test]
fn what_kubectl_refuses_is_an_error_not_a_silent_skip() {
    let served_nowhere = check(
        &["-"],
        Some("apiVersion: v1\nkind: Ingress\nmetadata: {name: old}\nspec: {}\n"),
    );
    assert_eq!(served_nowhere.code, 2, "{}", served_nowhere.stdout);
    line_starting(
        &served_nowhere.stdout,
        "<stdin>:1: error: kind Ingress in apiVersion \"v1\": no API server serves it",
    );
    let tab = check(
        &["-"],
        Some(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\n\t# a comment after a TAB\nmetadata: {name: t}\n",
        ),
    );
    assert_eq!(tab.code, 2, "{}", tab.stdout);
    line_starting(&tab.stdout, "<stdin>:3: error: a TAB in indentation");
}

#[test]
fn bad_usage_exits_2() {
    let none = check(&[], None);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("FILE|DIR|-"), "{}", none.stderr);
    let format = check(&["--output", "xml", "clean"], None);
    assert_eq!(format.code, 2);
    assert!(format.stderr.contains("xml"), "{}", format.stderr);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "rules:\n  host-gramar: off\n").unwrap();
    let bad_config = check(&["--config", config.to_str().unwrap(), "clean"], None);
    assert_eq!(bad_config.code, 2);
    assert_eq!(
        bad_config.stderr,
        format!(
            "qcloud-ingress-webhook: {}: rules.host-gramar: no such rule (did you mean host-grammar?)\n",
            config.display()
        )
    );
}

#[test]
fn a_rendered_chart_without_ingresses_piped_through_stdin_exits_0() {
    let Some(helm) = helm::helm() else { return };
    let rendered = helm::template(&helm, &[]);
    assert!(
        rendered.matches("\n---").count() > 5,
        "a multi-document stream"
    );
    let run = check(&["-"], Some(&rendered));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "checked 0 qcloud Ingresses in 1 file: nothing was checked, the inputs hold no qcloud Ingress\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Findings: these need the rules (host-grammar, path-grammar, backend-service-missing,
// tls-cert-id-missing) of the rule catalogue.

#[test]
fn text_output_is_compiler_style_with_the_line_of_each_field() {
    let run = check(&["broken.yaml"], None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let host = line_of("broken.yaml", "host: localhost");
    let host_line = line_starting(
        &run.stdout,
        &format!("broken.yaml:{host}: deny host-grammar spec.rules[0].host: "),
    );
    assert!(
        host_line.ends_with("(TKE Ingress error E4052)"),
        "{host_line}"
    );
    let path = line_of("broken.yaml", "path: /api/*");
    line_starting(
        &run.stdout,
        &format!("broken.yaml:{path}: deny path-grammar spec.rules[0].http.paths[1].path: "),
    );
    // A Service that is not among the inputs is not a deny: it may exist in the cluster.
    assert!(
        !run.stdout.contains("backend-service-missing"),
        "{}",
        run.stdout
    );
    line_starting(
        &run.stdout,
        "unresolved: 1 reference not among the inputs, not checked: Service default/does-not-exist; \
         add them with --cluster-state, or resolve them against a cluster with --kubeconfig",
    );
    let lines: Vec<usize> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("broken.yaml:"))
        .map(|l| l.split(':').next().unwrap().parse().unwrap())
        .collect();
    assert!(lines.is_sorted(), "top to bottom: {lines:?}");
    let last = run.stdout.lines().last().unwrap();
    assert!(
        last.starts_with("checked 1 qcloud Ingress in 1 file: 1 would be denied ("),
        "{last}"
    );
}

#[test]
fn stdin_findings_are_reported_against_stdin() {
    let run = check(&["-"], Some(&read_fixture("broken.yaml")));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let host = line_of("broken.yaml", "host: localhost");
    line_starting(
        &run.stdout,
        &format!("<stdin>:{host}: deny host-grammar spec.rules[0].host: "),
    );
}

#[test]
fn directories_lists_and_json_files_point_at_their_lines() {
    let run = check(&["tree"], None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let json_host = line_of("tree/nested/list.json", "\"host\": \"localhost\"");
    line_starting(
        &run.stdout,
        &format!("tree/nested/list.json:{json_host}: deny host-grammar spec.rules[0].host: "),
    );
    // The v1beta1 Ingress is reported in its own field names.
    let internal = line_of("tree/ingress.yml", "serviceName: internal-only");
    line_starting(
        &run.stdout,
        &format!(
            "tree/ingress.yml:{internal}: deny backend-service-type spec.rules[0].http.paths[0].backend.serviceName"
        ),
    );
    assert!(!run.stdout.contains("notes.txt"), "{}", run.stdout);
}

#[test]
fn secrets_written_with_string_data_count() {
    let run = check(&["--output", "json", "tls.yaml"], None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    let cert_findings: Vec<&Value> = value["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "tls-cert-id-missing")
        .collect();
    assert_eq!(cert_findings.len(), 1, "{}", run.stdout);
    let finding = cert_findings[0];
    assert_eq!(finding["name"], "shop-bad");
    assert_eq!(finding["namespace"], "shop");
    assert_eq!(finding["tkeCode"], "E4011");
    assert_eq!(
        finding["line"],
        line_of("tls.yaml", "secretName: no-cert-id"),
        "{finding}"
    );
    assert_eq!(value["summary"]["denied"], 1);
}

#[test]
fn json_output_has_every_finding_with_its_line_and_a_summary() {
    let run = check(&["--output", "json", "broken.yaml", "clean"], None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    let findings = value["findings"].as_array().unwrap();
    let host = findings
        .iter()
        .find(|f| f["rule"] == "host-grammar")
        .expect("a host-grammar finding");
    assert_eq!(host["file"], "broken.yaml");
    assert_eq!(host["line"], line_of("broken.yaml", "host: localhost"));
    assert_eq!(host["document"], 2);
    assert_eq!(host["severity"], "deny");
    assert_eq!(host["tkeCode"], "E4052");
    assert_eq!(host["field"], "spec.rules[0].host");
    assert_eq!(host["name"], "broken");
    assert!(
        host["problem"].as_str().unwrap().contains("localhost"),
        "{host}"
    );
    assert!(
        findings.iter().all(|f| f["file"] == "broken.yaml"),
        "{findings:?}"
    );
    assert_eq!(value["summary"]["files"], 2);
    assert_eq!(value["summary"]["ingresses"], 2);
    assert_eq!(value["summary"]["denied"], 1);
    assert_eq!(
        value["summary"]["deny"],
        findings.iter().filter(|f| f["severity"] == "deny").count()
    );
}

#[test]
fn github_output_annotates_file_and_line() {
    let run = check(&["--output", "github", "broken.yaml"], None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let host = line_of("broken.yaml", "host: localhost");
    let line = line_starting(
        &run.stdout,
        &format!("::error file=broken.yaml,line={host},title=host-grammar::spec.rules[0].host: "),
    );
    assert!(line.ends_with("(TKE Ingress error E4052)"), "{line}");
}

#[test]
fn namespace_and_cluster_state_decide_what_exists() {
    // The missing Service exists in the cluster state (namespace default)...
    let run = check(&["--cluster-state", "state", "broken.yaml"], None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        !run.stdout.contains("backend-service-missing"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("host-grammar"), "{}", run.stdout);
    assert!(!run.stdout.contains("unresolved"), "{}", run.stdout);
    // ...but not in the namespace the manifests are checked for: unresolved, and with --strict
    // that fails the run.
    let args = [
        "--cluster-state",
        "state",
        "--namespace",
        "shop",
        "broken.yaml",
    ];
    let elsewhere = check(&args, None);
    assert!(
        elsewhere.stdout.contains(
            "unresolved: 1 reference not among the inputs, not checked: Service shop/does-not-exist"
        ),
        "{}",
        elsewhere.stdout
    );
    let elsewhere_only = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: w}\n\
        spec: {rules: [{host: a.example.com, http: {paths: [{path: /, pathType: Prefix, \
        backend: {service: {name: in-another-chart, port: {number: 80}}}}]}}]}\n";
    let lenient = check(&["-"], Some(elsewhere_only));
    assert_eq!(lenient.code, 0, "{}", lenient.stdout);
    let strict = check(&["--strict", "-"], Some(elsewhere_only));
    assert_eq!(strict.code, 1, "{}", strict.stdout);
    assert!(
        strict.stdout.contains("failing (--strict)"),
        "{}",
        strict.stdout
    );
}

#[test]
fn config_overrides_and_warn_enforcement_apply() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "rules:\n  host-grammar: off\n  path-grammar: warn\n  backend-service-missing: warn\n",
    )
    .unwrap();
    let run = check(&["--config", config.to_str().unwrap(), "broken.yaml"], None);
    assert_eq!(
        run.code, 0,
        "only warnings left: {}{}",
        run.stdout, run.stderr
    );
    assert!(!run.stdout.contains("host-grammar"), "{}", run.stdout);
    let path = line_of("broken.yaml", "path: /api/*");
    line_starting(
        &run.stdout,
        &format!("broken.yaml:{path}: warn path-grammar "),
    );

    std::fs::write(&config, "exempt:\n  namespaces: [shop]\n").unwrap();
    let exempt = check(&["--config", config.to_str().unwrap(), "tls.yaml"], None);
    assert_eq!(exempt.code, 0, "{}", exempt.stdout);
    assert_eq!(
        exempt.stdout,
        "checked 0 qcloud Ingresses in 1 file (2 in exempt namespaces skipped): no problems found\n"
    );

    std::fs::write(&config, "enforcement: warn\n").unwrap();
    let warn = check(&["--config", config.to_str().unwrap(), "broken.yaml"], None);
    assert_eq!(warn.code, 0, "warn mode denies nothing: {}", warn.stdout);
    assert!(warn.stdout.contains("host-grammar"), "{}", warn.stdout);
}

#[test]
fn a_rendered_chart_with_a_broken_ingress_piped_through_stdin_exits_1() {
    let Some(helm) = helm::helm() else { return };
    let chart = fixtures().join("chart");
    let render = |host: &str| {
        let output = Command::new(&helm)
            .args(["template", "shop"])
            .arg(&chart)
            .args(["--set", &format!("host={host}")])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let good = check(&["-"], Some(&render("shop.example.com")));
    assert_eq!(good.code, 0, "{}{}", good.stdout, good.stderr);
    assert_eq!(
        good.stdout,
        "checked 1 qcloud Ingress in 1 file: no problems found\n"
    );

    let rendered = render("localhost");
    let run = check(&["-"], Some(&rendered));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let host = line_in(&rendered, "host: localhost");
    line_starting(
        &run.stdout,
        &format!("<stdin>:{host}: deny host-grammar spec.rules[0].host: "),
    );
}

#[test]
fn the_broken_ingress_of_the_charts_notes_is_denied_at_its_lines() {
    let Some(helm) = helm::helm() else { return };
    let output = Command::new(&helm)
        .args([
            "install",
            "qiw",
            helm::CHART,
            "--namespace",
            "webhook",
            "--dry-run=client",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    // The heredoc body of NOTES' "try it" step, as a user would paste it.
    let mut manifest = String::new();
    for line in printed
        .lines()
        .skip_while(|l| !l.starts_with("cat <<'YAML'"))
        .skip(1)
        .take_while(|l| *l != "YAML")
    {
        manifest.push_str(line);
        manifest.push('\n');
    }
    assert!(manifest.contains("kind: Ingress"), "{printed}");
    let run = check(&["-"], Some(&manifest));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let rules = line_in(&manifest, "kubernetes.io/ingress.http-rules:");
    line_starting(
        &run.stdout,
        &format!(
            "<stdin>:{rules}: deny http-rules-json metadata.annotations[kubernetes.io/ingress.http-rules]"
        ),
    );
    // Offline the Service is unresolved; against the cluster it would be denied too.
    assert!(
        run.stdout
            .contains("unresolved: 1 reference not among the inputs, not checked: Service default/does-not-exist"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_mutate_fixes_apply_first_and_say_so_unless_no_mutate() {
    let manifest = "apiVersion: networking.k8s.io/v1\nkind: Ingress\n\
        metadata: {name: x, annotations: {kubernetes.io/ingress.rule-mix: \"True\"}}\n\
        spec: {rules: [{host: a.example.com, http: {paths: [{path: /, pathType: Prefix, \
        backend: {service: {name: s, port: {number: 80}}}}]}}]}\n---\n\
        apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: NodePort, ports: [{port: 80}]}\n";
    let run = check(&["-"], Some(manifest));
    assert_eq!(run.code, 0, "{}", run.stdout);
    line_starting(
        &run.stdout,
        "<stdin>:1: note: /mutate will change metadata.annotations[kubernetes.io/ingress.rule-mix]: \"True\" -> \"true\"",
    );
    line_starting(
        &run.stdout,
        "<stdin>:1: note: as written this Ingress would be denied (boolean-annotation)",
    );
    let as_written = check(&["--no-mutate", "-"], Some(manifest));
    assert_eq!(as_written.code, 1, "{}", as_written.stdout);
    assert!(
        !as_written.stdout.contains("note:"),
        "{}",
        as_written.stdout
    );
    line_starting(&as_written.stdout, "<stdin>:3: deny boolean-annotation ");
}

#[test]
fn a_misspelt_class_is_reported_as_the_server_would() {
    let run = check(
        &["-"],
        Some(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: x\n  annotations:\n    kubernetes.io/ingress.class: Qcloud\nspec: {}\n",
        ),
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    line_starting(
        &run.stdout,
        "<stdin>:6: warn class-typo metadata.annotations[kubernetes.io/ingress.class]: \"Qcloud\" is not qcloud",
    );
}

// ---------------------------------------------------------------------------------------------
// Exceptions for one Ingress: qcloud-ingress-webhook.io/skip.

const SKIPPING: &str = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: legacy
  annotations:
    kubernetes.io/ingress.class: qcloud
    qcloud-ingress-webhook.io/skip: \"host-grammar: legacy intranet host, see OPS-12\"
spec:
  rules:
    - host: intranet
      http:
        paths:
          - path: /
            pathType: ImplementationSpecific
            backend: {service: {name: web, port: {number: 80}}}
";

#[test]
fn a_skipped_deny_is_listed_as_skipped_with_its_reason_and_exits_0() {
    let run = check(&["-"], Some(SKIPPING));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let line = line_starting(
        &run.stdout,
        "<stdin>:10: skipped host-grammar spec.rules[0].host: ",
    );
    assert!(
        line.ends_with(
            "(TKE Ingress error E4052); skipped on this Ingress: legacy intranet host, see OPS-12"
        ),
        "{line}"
    );
    assert!(
        run.stdout.ends_with(
            "checked 1 qcloud Ingress in 1 file: no problems found (1 skipped on their Ingress)\n"
        ),
        "{}",
        run.stdout
    );
    let run = check(&["--output", "json", "-"], Some(SKIPPING));
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    let finding = &value["findings"][0];
    assert_eq!(finding["severity"], "skipped", "{value}");
    assert_eq!(finding["rule"], "host-grammar");
    assert_eq!(finding["reason"], "legacy intranet host, see OPS-12");
    assert_eq!(value["summary"]["skipped"], 1);
    assert_eq!(value["summary"]["deny"], 0);
}

#[test]
fn a_cluster_that_forbids_exceptions_denies_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("settings.yaml");
    std::fs::write(&config, "exceptions: forbid\n").unwrap();
    let run = check(&["--config", config.to_str().unwrap(), "-"], Some(SKIPPING));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    line_starting(&run.stdout, "<stdin>:10: deny host-grammar ");
    let line = line_starting(
        &run.stdout,
        "<stdin>:7: warn skip-annotation metadata.annotations[qcloud-ingress-webhook.io/skip]: ",
    );
    assert!(
        line.contains("host-grammar not skipped: the cluster sets exceptions: forbid"),
        "{line}"
    );
}

/// A wrong path in CI must not pass for ever: inputs without a qcloud Ingress say that nothing
/// was checked, and `--strict` fails them.
#[test]
fn inputs_without_an_ingress_say_nothing_was_checked() {
    let dir = tempfile::tempdir().unwrap();
    let services = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: NodePort, ports: [{port: 80}]}\n";
    std::fs::write(dir.path().join("svc.yaml"), services).unwrap();
    let dir_arg = dir.path().display().to_string();
    let run = check(&[dir_arg.as_str()], None);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        run.stdout.lines().last(),
        Some(
            "checked 0 qcloud Ingresses in 1 file: nothing was checked, the inputs hold no qcloud Ingress"
        )
    );
    let strict = check(&["--strict", dir_arg.as_str()], None);
    assert_eq!(strict.code, 1, "{}", strict.stdout);
}
