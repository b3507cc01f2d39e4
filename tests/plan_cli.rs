//! `plan` through the real binary: every example's plan (expected text and JSON in
//! tests/fixtures/plan/), the seed blog's listeners, the README's plans, plan and verdict
//! agreeing on certificates, `--diff` (added, removed, moved rules, a changed certificate), and
//! every JSON output valid against docs/plan-schema.json.
//!
//! `UPDATE_GOLDEN=1 cargo test --test plan_cli` rewrites the expected files; read the diff.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use common::Run;
use rstest::rstest;
use serde_json::{Value, json};

const README: &str = include_str!("../README.md");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `plan ARGS` in the repository root, with `stdin` on standard input.
fn plan(args: &[&str], stdin: &str) -> Run {
    plan_in(&root(), args, stdin)
}

fn plan_in(dir: &Path, args: &[&str], stdin: &str) -> Run {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    common::run_binary(&all, dir, stdin)
}

static SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let text = std::fs::read_to_string(root().join("docs/plan-schema.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
});

/// Every JSON plan a test reads goes through here: it must fit docs/plan-schema.json.
fn valid(stdout: &str) -> Value {
    let value: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let errors: Vec<String> = SCHEMA
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not valid against docs/plan-schema.json:\n{}",
        errors.join("\n")
    );
    value
}

/// `plan --output json ARGS` (valid against the schema) and its exit status.
fn plan_json(dir: &Path, args: &[&str], stdin: &str) -> (i32, Value) {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let run = plan_in(dir, &all, stdin);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    (run.code, valid(&run.stdout))
}

/// Compares with tests/fixtures/plan/NAME, or rewrites it under UPDATE_GOLDEN=1.
fn golden(name: &str, actual: &str) {
    let path = root().join("tests/fixtures/plan").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        actual, expected,
        "{name} differs (UPDATE_GOLDEN=1 rewrites it)"
    );
}

const EXAMPLES: [&str; 4] = [
    "tke-ingress-demo",
    "tke-ingress-ssl",
    "tke-ingress-ssl-rule-mix-v1beta1",
    "mistake-clusterip-backend",
];

fn example_args(name: &str) -> Vec<String> {
    vec![
        "--cluster-state".into(),
        "examples/cluster-state".into(),
        format!("examples/plans/{name}.yaml"),
    ]
}

#[rstest]
#[case::name_based_virtual_hosts("tke-ingress-demo", 0)]
#[case::tls("tke-ingress-ssl", 0)]
#[case::rule_mix("tke-ingress-ssl-rule-mix-v1beta1", 0)]
#[case::clusterip_mistake("mistake-clusterip-backend", 1)]
fn every_example_has_its_plan(#[case] name: &str, #[case] code: i32) {
    let args = example_args(name);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = plan(&args, "");
    assert_eq!(text.code, code, "{}{}", text.stdout, text.stderr);
    golden(&format!("{name}.txt"), &text.stdout);
    let (json_code, value) = plan_json(&root(), &args, "");
    assert_eq!(json_code, code);
    golden(
        &format!("{name}.json"),
        &serde_json::to_string_pretty(&value).unwrap(),
    );
}

const EDITS: [(&str, &str); 2] = [
    ("tke-ingress-ssl", "tke-ingress-ssl-auto-rewrite"),
    (
        "tke-ingress-ssl-rule-mix-v1beta1",
        "tke-ingress-ssl-mix-both-listed",
    ),
];

#[rstest]
#[case::auto_rewrite(0)]
#[case::listed_in_both(1)]
fn every_edit_example_has_its_plan_and_diff(#[case] index: usize) {
    let (old, new) = EDITS[index];
    let (old, new) = (
        format!("examples/plans/{old}.yaml"),
        format!("examples/diff/{new}.yaml"),
    );
    let state = ["--cluster-state", "examples/cluster-state"];
    let diff = [
        &["--diff"][..],
        &state[..],
        &[old.as_str(), new.as_str()][..],
    ]
    .concat();
    let alone = [&state[..], &[new.as_str()][..]].concat();
    let name = &new["examples/diff/".len()..new.len() - ".yaml".len()];
    for (args, kind) in [(diff, "diff"), (alone, "plan")] {
        let text = plan(&args, "");
        assert_eq!(text.code, 0, "{}{}", text.stdout, text.stderr);
        golden(&format!("{name}.{kind}.txt"), &text.stdout);
        let (_, value) = plan_json(&root(), &args, "");
        golden(
            &format!("{name}.{kind}.json"),
            &serde_json::to_string_pretty(&value).unwrap(),
        );
    }
}

#[test]
fn every_example_is_planned_and_matches_its_review() {
    let mut edits: Vec<String> = std::fs::read_dir(root().join("examples/diff"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    edits.sort();
    assert_eq!(
        edits,
        EDITS.map(|(_, new)| new.to_owned()),
        "an edit in examples/diff/ without a test"
    );
    let mut manifests: Vec<String> = std::fs::read_dir(root().join("examples/plans"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    manifests.sort();
    let mut expected = EXAMPLES.map(str::to_owned).to_vec();
    expected.sort();
    assert_eq!(
        manifests, expected,
        "a manifest in examples/plans/ without a plan test"
    );
    // Each AdmissionReview example is the same Ingress as its manifest.
    for review in std::fs::read_dir(root().join("examples/reviews")).unwrap() {
        let path = review.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let review: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let manifest = std::fs::read_to_string(root().join(format!("examples/plans/{name}.yaml")))
            .unwrap_or_else(|_| panic!("examples/plans/{name}.yaml is missing"));
        let manifest: Value = serde_saphyr::from_str(&manifest).unwrap();
        assert_eq!(review["request"]["object"], manifest, "{name}");
    }
}

/// `listener host path → service:port` of every rule of the first plan.
fn rules_of(plan: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for listener in plan["listeners"].as_array().unwrap() {
        for domain in listener["domains"].as_array().unwrap() {
            for rule in domain["rules"].as_array().unwrap() {
                out.push(format!(
                    "{}:{} {}{} → {}:{}",
                    listener["protocol"].as_str().unwrap(),
                    listener["port"],
                    domain["host"].as_str().unwrap(),
                    rule["path"].as_str().unwrap(),
                    rule["service"].as_str().unwrap(),
                    rule["port"].as_str().unwrap()
                ));
            }
        }
    }
    out
}

fn example_plan(name: &str) -> Value {
    let args = example_args(name);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, value) = plan_json(&root(), &args, "");
    value["ingresses"][0].clone()
}

#[test]
fn the_seed_blog_examples_build_what_the_blog_describes() {
    // Name-based virtual hosts: one HTTP:80 listener, a domain per host, each to its Service.
    let demo = example_plan("tke-ingress-demo");
    assert_eq!(
        rules_of(&demo),
        [
            "HTTP:80 www1.happylau.cn/ → tke-app-1:80",
            "HTTP:80 www2.happylau.cn/ → tke-app-2:80"
        ]
    );
    assert_eq!(
        demo["listeners"][0]["domains"][0]["rules"][0]["binds"]["nodePort"],
        30001
    );
    assert_eq!(demo["clb"]["lifecycle"], "new");
    // TLS: HTTPS:443 only, the host served by the Secret's certificate id, by SNI.
    let ssl = example_plan("tke-ingress-ssl");
    assert_eq!(
        rules_of(&ssl),
        ["HTTPS:443 www.happylauliu.cn/ → tke-ingress-ssl-demo:80"]
    );
    let cert = &ssl["listeners"][0]["domains"][0]["certificate"];
    assert_eq!(cert["kind"], "sni");
    assert_eq!(cert["certIds"], json!(["TKPmsWb3"]));
    assert_eq!(cert["secret"], "ingress-ssl-key");
    // rule-mix: the path listed in http-rules is on HTTP:80, and nowhere on HTTPS.
    let mix = example_plan("tke-ingress-ssl-rule-mix-v1beta1");
    assert_eq!(
        rules_of(&mix),
        ["HTTP:80 www.happylauliu.cn/ → tke-ingress-ssl-demo:80"]
    );
    assert_eq!(mix["ignored"][0]["field"], "spec.tls[0]");
}

const RULE_MIX: &str = r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  annotations:
    kubernetes.io/ingress.rule-mix: "true"
    kubernetes.io/ingress.http-rules: '[{"host":"www.example.com","path":"/","backend":{"serviceName":"web","servicePort":"80"}}]'
    kubernetes.io/ingress.https-rules: '[{"host":"www.example.com","path":"/","backend":{"serviceName":"web","servicePort":"80"}}]'
spec:
  tls:
    - hosts: [www.example.com]
      secretName: web-cert
  rules:
    - host: www.example.com
      http:
        paths:
          - path: /
            pathType: ImplementationSpecific
            backend: {service: {name: web, port: {number: 80}}}
          - path: /pay
            pathType: ImplementationSpecific
            backend: {service: {name: web, port: {number: 80}}}
    - host: api.example.com
      http:
        paths:
          - path: /
            pathType: ImplementationSpecific
            backend: {service: {name: api, port: {number: 8080}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  ports: [{name: http, port: 80, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  type: NodePort
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Secret
metadata: {name: web-cert}
stringData: {qcloud_cert_id: Abcd1234}
---
apiVersion: v1
kind: Secret
metadata: {name: other-cert}
stringData: {qcloud_cert_id: Efgh5678}
"#;

#[test]
fn rule_mix_places_each_path_and_an_unlisted_one_goes_to_https() {
    let (code, value) = plan_json(&root(), &["-"], RULE_MIX);
    let plan = &value["ingresses"][0];
    assert_eq!(code, 1, "api.example.com has no certificate: {value}");
    assert_eq!(
        rules_of(plan),
        [
            "HTTP:80 www.example.com/ → web:80",
            "HTTPS:443 www.example.com/ → web:80",
            "HTTPS:443 www.example.com/pay → web:80",
            "HTTPS:443 api.example.com/ → api:8080"
        ]
    );
    let https = &plan["listeners"][1]["domains"];
    assert_eq!(https[0]["rules"][1]["httpsByDefault"], true);
    assert_eq!(
        https[1]["rules"][0]["binds"]["detail"],
        "a NodePort Kubernetes assigns"
    );
    assert_eq!(https[1]["certificate"]["kind"], "none");
    assert_eq!(https[1]["certificate"]["tkeCode"], "E4040");
}

/// The rule indexes a plan says have no certificate, and those tls-host-uncovered reports.
fn uncovered_both_ways(plan: &Value) -> (Vec<String>, Vec<String>) {
    let mut in_plan = Vec::new();
    for listener in plan["listeners"].as_array().unwrap() {
        for domain in listener["domains"].as_array().unwrap() {
            if domain["certificate"]["kind"] == "none" {
                for rule in domain["rules"].as_array().unwrap() {
                    let field = rule["field"].as_str().unwrap();
                    in_plan.push(format!("{}.host", &field[..field.find(".http").unwrap()]));
                }
            }
        }
    }
    in_plan.sort();
    in_plan.dedup();
    let mut findings: Vec<String> = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "tls-host-uncovered")
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    findings.sort();
    (in_plan, findings)
}

#[test]
fn a_host_with_no_certificate_in_the_plan_is_exactly_a_tls_host_uncovered_finding() {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(root().join("tests/corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    inputs.sort();
    let mut uncovered = 0;
    let mut planned = 0;
    let rule_mix = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(rule_mix.path(), RULE_MIX).unwrap();
    inputs.push(rule_mix.path().to_owned());
    for input in &inputs {
        let (_, value) = plan_json(&root(), &[input.to_str().unwrap()], "");
        for plan in value["ingresses"].as_array().unwrap() {
            let (in_plan, findings) = uncovered_both_ways(plan);
            assert_eq!(in_plan, findings, "{} {}", input.display(), plan["name"]);
            uncovered += in_plan.len();
            planned += 1;
        }
    }
    assert!(planned > 30, "{planned} Ingresses planned");
    assert!(uncovered >= 1, "no case of an uncovered host was tried");
}

#[test]
fn the_readme_shows_the_plans_the_binary_prints() {
    // Each ```text block of the README that starts with `$ qcloud-ingress-webhook plan ...` is
    // the command and its output, run from the repository root.
    let blocks: Vec<&str> = README
        .split("```text\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    let plans: Vec<&&str> = blocks
        .iter()
        .filter(|b| b.starts_with("$ qcloud-ingress-webhook plan "))
        .collect();
    assert!(
        plans.len() >= 4,
        "the README walks through the seed blog's examples as plans"
    );
    for block in plans {
        let (command, expected) = block.split_once('\n').unwrap();
        let args: Vec<&str> = command.split_whitespace().skip(3).collect();
        let run = plan(&args, "");
        assert_eq!(run.stdout, *expected, "README block for `{command}`");
    }
}

/// Writes OLD and NEW manifests (with the Services and Secrets of RULE_MIX) and diffs them.
fn diff(old: &str, new: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let state = RULE_MIX.split_once("---\n").unwrap().1;
    std::fs::write(dir.path().join("old.yaml"), old).unwrap();
    std::fs::write(dir.path().join("new.yaml"), new).unwrap();
    std::fs::write(dir.path().join("state.yaml"), state).unwrap();
    let (_, value) = plan_json(
        dir.path(),
        &[
            "--diff",
            "--cluster-state",
            "state.yaml",
            "old.yaml",
            "new.yaml",
        ],
        "",
    );
    assert_eq!(value["kind"], "diff");
    value
}

fn base() -> &'static str {
    RULE_MIX.split_once("---\n").unwrap().0
}

/// `op kind listener host+path` of every change of the first Ingress.
fn changes(value: &Value) -> Vec<String> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    value["ingresses"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let from = c["fromListener"]
                .as_str()
                .map(|l| format!("{l}→"))
                .unwrap_or_default();
            format!(
                "{} {} {from}{} {}{}",
                text(&c["op"]),
                text(&c["kind"]),
                text(&c["listener"]),
                text(&c["host"]),
                text(&c["path"])
            )
        })
        .collect()
}

#[rstest]
#[case::added_rule(
    base().replace("          - path: /pay\n", "          - path: /new\n            pathType: ImplementationSpecific\n            backend: {service: {name: web, port: {number: 80}}}\n          - path: /pay\n"),
    &["add rule HTTPS:443 www.example.com/new"])]
#[case::removed_rule(
    base().replace("    - host: api.example.com\n      http:\n        paths:\n          - path: /\n            pathType: ImplementationSpecific\n            backend: {service: {name: api, port: {number: 8080}}}\n", ""),
    &["remove certificate HTTPS:443 api.example.com", "remove rule HTTPS:443 api.example.com/"])]
#[case::moved_rule(
    base().replacen(r#"'[{"host":"www.example.com","path":"/","backend"#, r#"'[{"host":"www.example.com","path":"/pay","backend":{"serviceName":"web","servicePort":"80"}},{"host":"www.example.com","path":"/","backend"#, 1),
    &["move rule HTTPS:443→HTTP:80 www.example.com/pay"])]
#[case::changed_certificate(
    base().replace("secretName: web-cert", "secretName: other-cert"),
    &["change certificate HTTPS:443 www.example.com"])]
#[case::changed_backend(
    base().replace("backend: {service: {name: api, port: {number: 8080}}}", "backend: {service: {name: web, port: {number: 80}}}"),
    &["change rule HTTPS:443 api.example.com/"])]
#[case::unchanged(base().to_owned(), &[])]
fn diff_says_what_an_update_changes(#[case] new: String, #[case] expected: &[&str]) {
    let value = diff(base(), &new);
    assert_eq!(changes(&value), expected, "{value:#}");
    let change = value["ingresses"][0]["change"].as_str().unwrap();
    assert_eq!(change == "unchanged", expected.is_empty());
}

#[test]
fn a_moved_rule_and_a_changed_certificate_read_as_text() {
    let new = base()
        .replace("secretName: web-cert", "secretName: other-cert")
        .replacen(r#"'[{"host":"www.example.com","path":"/","backend"#, r#"'[{"host":"www.example.com","path":"/pay","backend":{"serviceName":"web","servicePort":"80"}},{"host":"www.example.com","path":"/","backend"#, 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.yaml"), RULE_MIX).unwrap();
    std::fs::write(dir.path().join("new.yaml"), RULE_MIX.replace(base(), &new)).unwrap();
    let run = plan_in(dir.path(), &["--diff", "old.yaml", "new.yaml"], "");
    golden("diff-moved-and-certificate.txt", &run.stdout);
}

#[test]
fn ingresses_only_on_one_side_are_added_or_removed() {
    let other = base().replace("name: shop", "name: blog");
    let value = diff(base(), &other);
    let ingresses = value["ingresses"].as_array().unwrap();
    let summary: Vec<String> = ingresses
        .iter()
        .map(|i| {
            let text = |key: &str| i[key].as_str().unwrap().to_owned();
            format!(
                "{} {} {}",
                text("name"),
                text("change"),
                i["changes"].as_array().unwrap().len()
            )
        })
        .collect();
    assert_eq!(summary, ["blog added 6", "shop removed 6"]);
}

#[test]
fn a_create_only_change_is_kept_out_of_the_plan_and_warned_about() {
    let new = base().replace(
        "  annotations:\n",
        "  annotations:\n    ingress.cloud.tencent.com/listen-ports: '[{\"HTTP\": 8080}, {\"HTTPS\": 8443}]'\n",
    );
    let value = diff(base(), &new);
    assert_eq!(
        changes(&value),
        Vec::<String>::new(),
        "TKE keeps HTTP:80 and HTTPS:443"
    );
    let rules: Vec<&str> = value["ingresses"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"create-only-change"), "{rules:?}");
}

#[test]
fn redirects_ignored_parts_and_weights_are_planned() {
    let manifest = base()
        .replace(
            "  annotations:\n",
            "  annotations:\n    ingress.cloud.tencent.com/auto-rewrite: \"true\"\n    ingress.cloud.tencent.com/auto-rewrite-code: '{\"defaultRewriteCode\": 301}'\n    ingress.cloud.tencent.com/lb-rs-weight: '{\"defaultWeight\": 10}'\n    kubernetes.io/ingress.subnetId: subnet-abcd1234\n",
        )
        .replace("rule-mix: \"true\"", "rule-mix: \"false\"");
    let (_, value) = plan_json(&root(), &["-"], &manifest);
    let plan = &value["ingresses"][0];
    assert_eq!(plan["clb"]["network"], "internal");
    assert_eq!(plan["redirects"].as_array().unwrap().len(), 3);
    assert_eq!(plan["redirects"][0]["code"], 301);
    assert_eq!(plan["redirects"][0]["from"]["listener"], "HTTP:80");
    let ignored: Vec<&str> = plan["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        ignored,
        [
            "metadata.annotations[kubernetes.io/ingress.http-rules]",
            "metadata.annotations[kubernetes.io/ingress.https-rules]"
        ]
    );
    let rule = &plan["listeners"][1]["domains"][0]["rules"][0];
    assert_eq!(rule["weight"]["default"], 10);
    assert_eq!(plan["ignored"][0]["line"], 11, "the annotation's line");
}

#[test]
fn unresolved_references_are_listed_and_usage_errors_exit_2() {
    let (code, value) = plan_json(&root(), &["examples/plans/tke-ingress-demo.yaml"], "");
    assert_eq!(code, 0, "{value}");
    assert_eq!(value["summary"]["unresolved"], 2, "{value}");
    let binds = &value["ingresses"][0]["listeners"][0]["domains"][0]["rules"][0]["binds"];
    assert_eq!(binds["kind"], "unresolved");
    let run = plan(&["--diff", "examples/plans/tke-ingress-ssl.yaml"], "");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--diff takes OLD NEW"),
        "{}",
        run.stderr
    );
}

/// The CLB id TKE wrote on the live object is kept by `kubectl apply`: a manifest without it
/// keeps the same CLB; only a real change of CLB is one.
#[test]
fn the_clb_tke_wrote_on_the_old_object_stays_on_update() {
    let old = base().replace(
        "  annotations:\n",
        "  annotations:\n    kubernetes.io/ingress.qcloud-loadbalance-id: lb-abc12345\n",
    );
    let value = diff(&old, base());
    assert_eq!(changes(&value), Vec::<String>::new(), "{value:#}");
    assert_eq!(value["ingresses"][0]["change"], "unchanged");
    assert_eq!(value["ingresses"][0]["clb"]["id"], "lb-abc12345");
}

/// Deleting an Ingress deletes the CLB TKE made for it, and its address; the text says so.
#[test]
fn a_removed_ingress_says_what_happens_to_its_clb() {
    let dir = tempfile::tempdir().unwrap();
    let old = RULE_MIX.replace(
        "  annotations:\n",
        "  annotations:\n    kubernetes.io/ingress.qcloud-loadbalance-id: lb-abc12345\n",
    );
    let state = RULE_MIX.split_once("---\n").unwrap().1;
    std::fs::write(dir.path().join("old.yaml"), old).unwrap();
    std::fs::write(dir.path().join("new.yaml"), state).unwrap();
    let run = plan_in(dir.path(), &["--diff", "old.yaml", "new.yaml"], "");
    assert!(
        run.stdout
            .contains("  CLB lb-abc12345 (TKE's) is deleted by TKE, and its address with it\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_skipped_finding_is_planned_as_skipped_with_its_reason() {
    let ingress = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: legacy
  annotations:
    kubernetes.io/ingress.class: qcloud
    qcloud-ingress-webhook.io/skip: \"host-grammar: legacy intranet host\"
spec:
  rules:
    - host: intranet
      http:
        paths:
          - path: /
            pathType: ImplementationSpecific
            backend: {service: {name: tke-app-1, port: {number: 80}}}
";
    let state = ["--cluster-state", "examples/cluster-state", "-"];
    let (code, value) = plan_json(&root(), &state, ingress);
    assert_eq!(code, 0, "{value}");
    let planned = &value["ingresses"][0];
    assert_eq!(planned["verdict"], "allowed", "{planned}");
    let finding = &planned["findings"][0];
    assert_eq!(finding["severity"], "skipped", "{planned}");
    assert_eq!(finding["rule"], "host-grammar");
    assert_eq!(finding["reason"], "legacy intranet host");
    let run = plan(&state, ingress);
    assert!(
        run.stdout.contains(
            "    <stdin>:10: skipped host-grammar spec.rules[0].host: \"intranet\" has no dot"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("; skipped on this Ingress: legacy intranet host\n"),
        "{}",
        run.stdout
    );
}
