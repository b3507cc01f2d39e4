//! `plan --kubeconfig`: the real binary plans against a cluster (the stand-in API server, a test
//! double) through the live view `check --kubeconfig` uses: the Secret's certificate id and the
//! Ingresses sharing a CLB come from the cluster, and `--diff` compares with the live object.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;
mod stand_in_apiserver;

use serde_json::{Value, json};
use stand_in_apiserver::{StandIn, cert_secret, ingress, service};

/// `front` in `shop`: www.example.com `/` to `web`, TLS from `web-cert`, on the shared CLB.
fn front() -> Value {
    let mut object = ingress(
        "shop",
        "front",
        "www.example.com",
        "web",
        Some("lb-shared01"),
    );
    object["metadata"]["annotations"]["ingress.cloud.tencent.com/enable-group"] = json!("true");
    object["metadata"]["annotations"]["ingress.cloud.tencent.com/auto-rewrite"] = json!("true");
    object["spec"]["tls"] = json!([{"hosts": ["www.example.com"], "secretName": "web-cert"}]);
    object
}

/// Runs `plan --output json ARGS -` with `stdin`.
async fn plan(args: Vec<String>, stdin: String) -> (i32, Value) {
    common::command_json("plan", args, stdin).await
}

#[tokio::test]
async fn plans_and_diffs_against_the_cluster() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("shop", "web", 80));
    stand_in.apply(cert_secret("shop", "web-cert", "Abcd1234"));
    stand_in.apply(front());
    let mut other = ingress(
        "shop",
        "blog",
        "blog.example.com",
        "web",
        Some("lb-shared01"),
    );
    other["metadata"]["annotations"]["ingress.cloud.tencent.com/enable-group"] = json!("true");
    stand_in.apply(other);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stand_in.kubeconfig(dir.path());
    let live = vec!["--kubeconfig".to_owned(), kubeconfig.display().to_string()];

    // The plan reads the certificate id from the cluster's Secret and the CLB's other Ingress.
    let (code, value) = plan(live.clone(), front().to_string()).await;
    assert_eq!(code, 0, "{value}");
    let planned = &value["ingresses"][0];
    assert_eq!(planned["clb"]["sharedWith"], json!(["shop/blog"]));
    let https = &planned["listeners"][1];
    assert_eq!(https["protocol"], "HTTPS");
    assert_eq!(
        https["domains"][0]["certificate"]["certIds"],
        json!(["Abcd1234"])
    );
    assert_eq!(value["unresolved"], json!([]));

    // The live object is the old side: adding a path adds a rule and its redirect.
    let mut edited = front();
    let paths = edited["spec"]["rules"][0]["http"]["paths"]
        .as_array_mut()
        .unwrap();
    paths.push(json!({"path": "/api", "pathType": "Prefix",
        "backend": {"service": {"name": "web", "port": {"number": 80}}}}));
    let mut args = live.clone();
    args.push("--diff".into());
    let gets = stand_in.object_gets();
    let (code, value) = plan(args.clone(), edited.to_string()).await;
    // The old side is the named Ingress alone, read with one GET (not a list of the cluster).
    assert_eq!(stand_in.object_gets() - gets, 1);
    assert_eq!(code, 0, "{value}");
    let diff = &value["ingresses"][0];
    assert_eq!(diff["change"], "changed", "{value}");
    let changes: Vec<String> = diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {} {}", c["op"], c["kind"], c["path"]))
        .collect();
    assert_eq!(
        changes,
        [r#""add" "redirect" "/api""#, r#""add" "rule" "/api""#],
        "{value}"
    );
    // The other Ingress on the CLB is not among the inputs: it is not removed.
    assert_eq!(value["ingresses"].as_array().unwrap().len(), 1, "{value}");

    // An Ingress the cluster does not have yet: the whole of it is added.
    let fresh = ingress("shop", "fresh", "fresh.example.com", "web", None);
    let (code, value) = plan(args, fresh.to_string()).await;
    assert_eq!(code, 0, "{value}");
    assert_eq!(value["ingresses"][0]["change"], "added", "{value}");
}
