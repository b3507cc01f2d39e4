//! `check --kubeconfig`: the real binary resolves references against a cluster (the stand-in API
//! server, a test double) through the view live `serve` uses. Against a cluster a Service or
//! Secret that does not exist is missing, not unresolved; one the cluster has is found.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;
mod stand_in_apiserver;

use std::process::Stdio;

use serde_json::{Value, json};
use stand_in_apiserver::{StandIn, cert_secret, ingress, service};

const BIN: &str = env!("CARGO_BIN_EXE_qcloud-ingress-webhook");

/// An Ingress in `shop` with TLS from `secret` and a backend `backend`, as a manifest.
fn manifest(backend: &str, secret: &str) -> String {
    let mut object = ingress("shop", "front", "www.example.com", backend, None);
    object["spec"]["tls"] = json!([{"hosts": ["www.example.com"], "secretName": secret}]);
    object["metadata"]["annotations"]["ingress.cloud.tencent.com/auto-rewrite"] = json!("true");
    serde_json::to_string(&object).unwrap()
}

/// Runs `check --output json ARGS -` with `stdin`.
async fn check(args: Vec<String>, stdin: String) -> (i32, Value) {
    common::command_json("check", args, stdin).await
}

fn rules(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn references_resolve_against_the_cluster() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("shop", "web", 80));
    stand_in.apply(cert_secret("shop", "web-cert", "Abcd1234"));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stand_in.kubeconfig(dir.path());
    let live = vec!["--kubeconfig".to_owned(), kubeconfig.display().to_string()];

    // Both exist in the cluster: nothing to report, nothing unresolved.
    let (code, report) = check(live.clone(), manifest("web", "web-cert")).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(rules(&report), Vec::<String>::new());
    assert_eq!(report["unresolved"], json!([]));

    // Against the cluster, absent means missing: denied, as the server would.
    let (code, report) = check(live.clone(), manifest("gone", "no-cert")).await;
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        rules(&report),
        ["tls-secret-missing", "backend-service-missing"]
    );

    // The same manifest without a cluster: unresolved, not denied.
    let (code, report) = check(Vec::new(), manifest("gone", "no-cert")).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["summary"]["unresolved"], 2, "{report}");
}

#[tokio::test]
async fn a_kubeconfig_that_does_not_work_is_an_error_not_a_verdict() {
    let mut stand_in = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stand_in.kubeconfig(dir.path());
    stand_in.stop().await;
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .args(["check", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(["--context", "elsewhere", "-"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("qcloud-ingress-webhook: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Objects without a namespace go where kubectl would put them: `-n`, else the kubeconfig
/// context's namespace, else `default`.
#[tokio::test]
async fn a_manifest_without_a_namespace_takes_the_contexts() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("team-b", "web", 80));
    stand_in.apply(cert_secret("team-b", "web-cert", "Abcd1234"));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stand_in.kubeconfig(dir.path()).display().to_string();
    let mut object: Value = serde_json::from_str(&manifest("web", "web-cert")).unwrap();
    object["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    let manifest = object.to_string();
    let args = |extra: &[&str]| {
        let mut args = vec!["--kubeconfig".to_owned(), kubeconfig.clone()];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    };

    // The context team-b names its namespace: the Service and Secret are found there.
    let (code, report) = check(args(&["--context", "team-b"]), manifest.clone()).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(rules(&report), Vec::<String>::new());

    // -n wins over the context.
    let (code, report) = check(
        args(&["--context", "team-b", "-n", "shop"]),
        manifest.clone(),
    )
    .await;
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        rules(&report),
        ["tls-secret-missing", "backend-service-missing"]
    );

    // A context without a namespace means default, where neither exists.
    let (code, report) = check(args(&[]), manifest).await;
    assert_eq!(code, 1, "{report}");
    assert!(
        report["findings"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("namespace default")
            || report.to_string().contains("namespace default"),
        "{report}"
    );
}

/// A kubeconfig that is not there: one line that says what the command needs, each cause once
/// (kube's error repeats its source), and nothing about serving a cluster state.
#[test]
fn a_missing_kubeconfig_says_so_once_for_each_command() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.kubeconfig");
    let run = |args: &[&str]| {
        let output = std::process::Command::new(BIN)
            .args(args)
            .arg("--kubeconfig")
            .arg(&missing)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    for (args, needs) in [
        (
            &["check", "-"][..],
            "leave both out to work from the inputs",
        ),
        (&["plan", "-"][..], "leave both out to work from the inputs"),
        (&["audit"][..], "audit reads a cluster"),
    ] {
        let stderr = run(args);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needs), "{args:?}: {stderr}");
        assert_eq!(
            stderr.matches("No such file or directory").count(),
            1,
            "{stderr}"
        );
        assert!(!stderr.contains("to serve"), "{stderr}");
    }
}
