//! End to end in live mode: the real webhook server, its live cluster view and the stand-in API
//! server (a test double, see `stand_in_apiserver`). The verdict follows objects as they come
//! and go in the stand-in.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed set-up is a failed test"
)]

mod common;
mod stand_in_apiserver;

use std::future::Future;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Options, TestServer, assert_allowed, assert_denied};
use qcloud_ingress_webhook::cluster::live::LiveConfig;
use serde_json::{Value, json};
use stand_in_apiserver::{StandIn, cert_secret, ingress, service};

/// The webhook in live mode on `stand_in`, plus the kubeconfig's directory.
async fn live_webhook(stand_in: &StandIn) -> (TestServer, tempfile::TempDir) {
    // Before the kube client, which would otherwise pick a provider itself, as main does.
    common::install_provider();
    let (cluster, dir) = stand_in.live_view(LiveConfig::default()).await;
    let cluster = Arc::new(cluster);
    let server = TestServer::start_with(Options {
        cluster: Some(cluster),
        ..Options::default()
    })
    .await;
    (server, dir)
}

/// An AdmissionReview for `object` (an Ingress).
fn review(operation: &str, object: &Value, old: Option<&Value>) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0d1e2f3a-live-4a3c-9d5e-000000000001",
            "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
            "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "ingresses"},
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "operation": operation,
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": old,
            "dryRun": false,
        }
    })
}

/// Retries `attempt` for up to 15 s until it returns true.
async fn eventually<F: Future<Output = bool>>(what: &str, mut attempt: impl FnMut() -> F) {
    let give_up = Instant::now() + Duration::from_secs(15);
    while !attempt().await {
        assert!(Instant::now() < give_up, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ready(server: &TestServer) -> bool {
    server.admin_get("/readyz").await.0 == 200
}

async fn allowed(server: &TestServer, request: &Value) -> bool {
    server.review("/validate", request).await.json()["response"]["allowed"] == true
}

#[tokio::test]
async fn the_verdict_follows_the_backend_service_in_the_cluster() {
    let mut stand_in = StandIn::start().await;
    stand_in.stop().await;
    let (server, _dir) = live_webhook(&stand_in).await;
    assert_eq!(
        server.admin_get("/readyz").await,
        (503, "cluster view not synced yet".to_owned())
    );
    stand_in.restart().await;
    eventually("/readyz turns 200 after the initial lists", || {
        ready(&server)
    })
    .await;
    let (_, metrics) = server.admin_get("/metrics").await;
    for resource in ["services", "ingresses"] {
        let line =
            format!("qcloud_ingress_webhook_cluster_cache_synced{{resource=\"{resource}\"}} 1");
        assert!(metrics.contains(&line), "{line} missing in\n{metrics}");
    }

    let request = review(
        "CREATE",
        &ingress("demo", "web", "a.example.com", "web", None),
        None,
    );
    let message = assert_denied(&server.review("/validate", &request).await, &request);
    assert!(message.contains("E4041"), "{message}");
    assert!(message.contains("web"), "{message}");

    stand_in.apply(service("demo", "web", 80));
    eventually("the Service is seen", || allowed(&server, &request)).await;
    assert_allowed(&server.review("/validate", &request).await, &request);

    stand_in.delete("Service", "demo", "web");
    eventually("the deletion is seen", || async {
        !allowed(&server, &request).await
    })
    .await;
    let message = assert_denied(&server.review("/validate", &request).await, &request);
    assert!(message.contains("E4041"), "{message}");
}

#[tokio::test]
async fn a_tls_secret_created_just_before_its_ingress_is_found() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("demo", "web", 80));
    let (server, _dir) = live_webhook(&stand_in).await;
    eventually("ready", || ready(&server)).await;

    let mut object = ingress("demo", "secure", "a.example.com", "web", None);
    object["spec"]["tls"] = json!([{"hosts": ["a.example.com"], "secretName": "ssl"}]);
    let request = review("CREATE", &object, None);
    let message = assert_denied(&server.review("/validate", &request).await, &request);
    assert!(message.contains("E4010"), "{message}");

    // No waiting: Secrets are read on demand and a miss is never cached.
    stand_in.apply(cert_secret("demo", "ssl", "TKPmsWb3"));
    assert_allowed(&server.review("/validate", &request).await, &request);
}

#[tokio::test]
async fn a_secret_read_that_is_too_slow_warns_instead_of_denying() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("demo", "web", 80));
    stand_in.apply(cert_secret("demo", "ssl", "TKPmsWb3"));
    stand_in.set_secret_delay(Duration::from_secs(8));
    let (server, _dir) = live_webhook(&stand_in).await;
    eventually("ready", || ready(&server)).await;

    let mut object = ingress("demo", "secure", "a.example.com", "web", None);
    object["spec"]["tls"] = json!([{"hosts": ["a.example.com"], "secretName": "ssl"}]);
    let request = review("CREATE", &object, None);
    let started = Instant::now();
    let response = assert_allowed(&server.review("/validate", &request).await, &request);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "answered within the Secret timeout"
    );
    let warnings = response["warnings"].to_string();
    assert!(warnings.contains("could not be read"), "{response}");
    assert!(!warnings.contains("TKPmsWb3"), "{response}");
}

#[tokio::test]
async fn an_exist_lb_id_in_use_is_denied_until_the_other_ingress_goes() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("demo", "web", 80));
    stand_in.apply(ingress(
        "team-b",
        "first",
        "b.example.com",
        "web",
        Some("lb-shared1"),
    ));
    let (server, _dir) = live_webhook(&stand_in).await;
    eventually("ready", || ready(&server)).await;

    let object = ingress("demo", "second", "a.example.com", "web", Some("lb-shared1"));
    let request = review("CREATE", &object, None);
    let message = assert_denied(&server.review("/validate", &request).await, &request);
    assert!(message.contains("E4020"), "{message}");
    assert!(message.contains("team-b/first"), "{message}");

    // The other Ingress's own UPDATE does not conflict with its cached earlier version.
    let first = ingress(
        "team-b",
        "first",
        "b.example.com",
        "web",
        Some("lb-shared1"),
    );
    let update = review("UPDATE", &first, Some(&first));
    assert_allowed(&server.review("/validate", &update).await, &update);

    stand_in.delete("Ingress", "team-b", "first");
    eventually("the CLB is free", || allowed(&server, &request)).await;
}

#[tokio::test]
async fn the_binary_serves_in_live_mode_with_kubeconfig_and_context_flags() {
    let stand_in = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stand_in.kubeconfig(dir.path());
    let certs = common::test_certs();
    std::fs::write(dir.path().join("tls.crt"), &certs.cert_pem).unwrap();
    std::fs::write(dir.path().join("tls.key"), &certs.key_pem).unwrap();
    let (port, admin_port) = (common::free_port(), common::free_port());
    let _child = common::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_qcloud-ingress-webhook"))
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--admin-listen", &format!("127.0.0.1:{admin_port}")])
            .arg("--tls-cert")
            .arg(dir.path().join("tls.crt"))
            .arg("--tls-key")
            .arg(dir.path().join("tls.key"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--context", "stand-in", "--log-format", "json"])
            .env_remove("KUBECONFIG")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let admin = reqwest::Client::new();
    let readyz = format!("http://127.0.0.1:{admin_port}/readyz");
    eventually("the binary is ready", || async {
        admin
            .get(&readyz)
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 200)
    })
    .await;
    assert!(stand_in.lists(stand_in_apiserver::SERVICES) >= 1);

    let client = common::client_for(&certs, format!("127.0.0.1:{port}").parse().unwrap());
    let request = review(
        "CREATE",
        &ingress("demo", "web", "a.example.com", "web", None),
        None,
    );
    let url = format!("https://{}:{port}/validate", common::SERVICE_HOST);
    let reply = common::Reply::read(client.post(&url).json(&request).send().await.unwrap()).await;
    let message = assert_denied(&reply, &request);
    assert!(message.contains("E4041"), "{message}");
}

#[test]
fn the_context_flag_picks_the_kubeconfig_context() {
    let dir = tempfile::tempdir().unwrap();
    // Only the file's text is needed; nothing listens.
    let kubeconfig = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { StandIn::start().await.kubeconfig(dir.path()) });
    let output = Command::new(env!("CARGO_BIN_EXE_qcloud-ingress-webhook"))
        .args(["serve", "--tls-cert", "tls.crt", "--tls-key", "tls.key"])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--context", "elsewhere"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nowhere"),
        "the context's cluster is named: {stderr}"
    );
}
