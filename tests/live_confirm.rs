//! Live mode denies only on facts the API server confirms. The stand-in API server (a test
//! double) holds watch events back by seconds while GET and LIST see each write at once, as a
//! busy API server's watches trail its writes; `kubectl apply -f app.yaml` writes the Service and
//! then the Ingress milliseconds apart. Each would-be deny on a cached fact is confirmed by a GET,
//! and a fact the API server contradicts is no finding.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed set-up is a failed test"
)]

mod common;
mod stand_in_apiserver;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Options, TestServer};
use qcloud_ingress_webhook::audit::Report;
use qcloud_ingress_webhook::audit::live::once;
use qcloud_ingress_webhook::cluster::ClusterView;
use qcloud_ingress_webhook::cluster::live::{LiveCluster, LiveConfig};
use qcloud_ingress_webhook::http::Limits;
use qcloud_ingress_webhook::rules::{Engine, Settings};
use serde_json::{Value, json};
use stand_in_apiserver::{StandIn, ingress, service};

/// How far the watch trails the writes.
const WATCH_DELAY: Duration = Duration::from_secs(3);

/// The webhook in live mode on a stand-in whose watches trail by [`WATCH_DELAY`], synced.
async fn trailing_webhook(stand_in: &StandIn) -> (TestServer, tempfile::TempDir) {
    trailing_webhook_with(stand_in, Limits::default()).await
}

/// The same, with these limits.
async fn trailing_webhook_with(
    stand_in: &StandIn,
    limits: Limits,
) -> (TestServer, tempfile::TempDir) {
    common::install_provider();
    stand_in.set_watch_delay(WATCH_DELAY);
    let (cluster, dir) = stand_in.live_view(LiveConfig::default()).await;
    let cluster = Arc::new(cluster);
    let server = TestServer::start_with(Options {
        cluster: Some(cluster),
        limits,
        ..Options::default()
    })
    .await;
    let give_up = Instant::now() + Duration::from_secs(15);
    while server.admin_get("/readyz").await.0 != 200 {
        assert!(Instant::now() < give_up, "the live view never synced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (server, dir)
}

fn create(object: &Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "5c0f1a2b-conf-4a3c-9d5e-000000000001",
            "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
            "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "ingresses"},
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin"},
            "object": object,
        }
    })
}

/// The review's answer and how long it took.
async fn review(server: &TestServer, object: &Value) -> (Value, Duration) {
    let started = Instant::now();
    let reply = server
        .review("/validate?timeout=10s", &create(object))
        .await;
    (reply.json()["response"].clone(), started.elapsed())
}

fn cluster_ip(namespace: &str, name: &str) -> Value {
    let mut svc = service(namespace, name, 80);
    svc["spec"]["type"] = json!("ClusterIP");
    svc
}

/// A counter's value (0 when the series does not exist yet).
async fn metric(server: &TestServer, series: &str) -> u64 {
    let (_, text) = server.admin_get("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_created_just_before_its_ingress_is_found() {
    let stand_in = StandIn::start().await;
    let (server, _dir) = trailing_webhook(&stand_in).await;
    stand_in.apply(service("shop", "web", 80));
    let (answer, _) = review(
        &server,
        &ingress("shop", "front", "a.example.com", "web", None),
    )
    .await;
    assert_eq!(answer["allowed"], true, "{answer}");
    assert!(stand_in.object_gets() >= 1, "confirmed with a GET");
    let overturned = r#"qcloud_ingress_webhook_deny_confirmations_total{outcome="overturned"}"#;
    assert_eq!(metric(&server, overturned).await, 1);
    assert_eq!(
        metric(
            &server,
            "qcloud_ingress_webhook_deny_findings_overturned_total"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_changed_to_node_port_just_before_is_seen_as_node_port() {
    let stand_in = StandIn::start().await;
    stand_in.apply(cluster_ip("shop", "web"));
    let (server, _dir) = trailing_webhook(&stand_in).await;
    let front = ingress("shop", "front", "a.example.com", "web", None);
    // The cache (listed before the change) still says ClusterIP...
    let (before, _) = review(&server, &front).await;
    assert_eq!(before["allowed"], false, "{before}");
    // ...the API server now says NodePort.
    stand_in.apply(service("shop", "web", 80));
    let (after, _) = review(&server, &front).await;
    assert_eq!(after["allowed"], true, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clb_freed_just_before_by_a_deleted_ingress_can_be_taken() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("shop", "web", 80));
    stand_in.apply(ingress(
        "shop",
        "old",
        "a.example.com",
        "web",
        Some("lb-6swt1234"),
    ));
    let (server, _dir) = trailing_webhook(&stand_in).await;
    let new = ingress("shop", "new", "b.example.com", "web", Some("lb-6swt1234"));
    let (taken, _) = review(&server, &new).await;
    assert_eq!(taken["allowed"], false, "{taken}");
    stand_in.delete("Ingress", "shop", "old");
    let (freed, _) = review(&server, &new).await;
    assert_eq!(freed["allowed"], true, "{freed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_never_existed_is_still_denied_at_once() {
    let stand_in = StandIn::start().await;
    let (server, _dir) = trailing_webhook(&stand_in).await;
    let (answer, took) = review(
        &server,
        &ingress("shop", "front", "a.example.com", "never", None),
    )
    .await;
    assert_eq!(answer["allowed"], false, "{answer}");
    let message = answer["status"]["message"].as_str().unwrap();
    assert!(message.contains("[backend-service-missing]"), "{message}");
    assert!(
        took < WATCH_DELAY,
        "answered in {took:?}, without waiting for the watch"
    );
    let upheld = r#"qcloud_ingress_webhook_deny_confirmations_total{outcome="upheld"}"#;
    assert_eq!(metric(&server, upheld).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_api_server_down_the_cache_answers_within_the_deadline() {
    let mut stand_in = StandIn::start().await;
    let (server, _dir) = trailing_webhook(&stand_in).await;
    stand_in.stop().await;
    let started = Instant::now();
    let reply = server
        .review(
            "/validate?timeout=2s",
            &create(&ingress("shop", "front", "a.example.com", "never", None)),
        )
        .await;
    let answer = reply.json()["response"].clone();
    assert_eq!(
        answer["allowed"], false,
        "the cache says the Service is missing: {answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let failed = r#"qcloud_ingress_webhook_deny_confirmations_total{outcome="failed"}"#;
    assert_eq!(metric(&server, failed).await, 1);
}

/// An API server that takes the confirmation's GET and never answers costs the review its
/// confirmation budget, not its deadline (`timeout=10s` here): then the cache answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_api_server_hanging_the_cache_answers_once_the_confirmation_budget_is_spent() {
    let stand_in = StandIn::start().await;
    let budget = Duration::from_millis(500);
    let limits = Limits {
        confirm_budget: budget,
        ..Limits::default()
    };
    let (server, _dir) = trailing_webhook_with(&stand_in, limits).await;
    stand_in.set_object_get_delay(Duration::from_secs(60));
    let (answer, took) = review(
        &server,
        &ingress("shop", "front", "a.example.com", "never", None),
    )
    .await;
    assert_eq!(
        answer["allowed"], false,
        "the cache says the Service is missing: {answer}"
    );
    assert!(stand_in.object_gets() >= 1, "a confirmation was asked for");
    assert!(
        took >= budget,
        "answered in {took:?}, before the budget was spent"
    );
    // Budget plus 100 ms is the aim; the bound leaves room for a loaded 2-core machine.
    assert!(took < Duration::from_millis(1500), "answered in {took:?}");
    let failed = r#"qcloud_ingress_webhook_deny_confirmations_total{outcome="failed"}"#;
    assert_eq!(metric(&server, failed).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowing_answers_and_denies_on_the_object_alone_ask_nothing() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("shop", "web", 80));
    let (server, _dir) = trailing_webhook(&stand_in).await;
    let before = stand_in.object_gets();
    let (ok, _) = review(
        &server,
        &ingress("shop", "front", "a.example.com", "web", None),
    )
    .await;
    assert_eq!(ok["allowed"], true, "{ok}");
    let (bad_host, _) = review(&server, &ingress("shop", "front", "localhost", "web", None)).await;
    assert_eq!(bad_host["allowed"], false, "{bad_host}");
    assert_eq!(
        stand_in.object_gets(),
        before,
        "no GET without a deny on a cached fact"
    );
}

/// The deny findings an audit pass lists for `shop/<name>`.
fn audit_denies(report: &Report, name: &str) -> Vec<&'static str> {
    report
        .findings
        .iter()
        .filter(|e| e.name == name && e.severity == "deny")
        .map(|e| e.rule)
        .collect()
}

/// A second live view of the stand-in, keeping the Ingresses for the audit, synced, with
/// `shop`'s Ingresses in it.
async fn audit_view(stand_in: &StandIn, engine: &Engine) -> (LiveCluster, tempfile::TempDir) {
    let config = LiveConfig {
        keep_ingresses: true,
        ..LiveConfig::default()
    };
    let (view, dir) = stand_in.live_view(config).await;
    let give_up = Instant::now() + Duration::from_secs(15);
    while !view.is_ready() || once(engine, &view, Some("shop"), None).await.ingresses == 0 {
        assert!(Instant::now() < give_up, "the audit's view never synced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (view, dir)
}

/// The same object and cluster get the same verdict from a review and from the audit while the
/// watch cache is stale: both go through the driver, so both confirm the deny the cache
/// suggests, and the API server overturns it for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_the_audit_agree_when_a_confirmation_overturns_a_stale_deny() {
    let stand_in = StandIn::start().await;
    stand_in.apply(cluster_ip("shop", "web"));
    let front = ingress("shop", "front", "a.example.com", "web", None);
    stand_in.apply(front.clone());
    let (server, _dir) = trailing_webhook(&stand_in).await;
    let engine = Engine::new(Settings::default()).unwrap();
    let (view, _audit_dir) = audit_view(&stand_in, &engine).await;
    let before = once(&engine, &view, Some("shop"), None).await;
    assert!(!audit_denies(&before, "front").is_empty(), "{before:?}");
    // The API server now says NodePort; both watch caches still say ClusterIP.
    stand_in.apply(service("shop", "web", 80));
    let gets = stand_in.object_gets();
    let audited = once(&engine, &view, Some("shop"), None).await;
    let (reviewed, took) = review(&server, &front).await;
    assert!(
        took < WATCH_DELAY,
        "answered in {took:?}, before the watch caught up"
    );
    assert_eq!(reviewed["allowed"], true, "{reviewed}");
    assert_eq!(
        audit_denies(&audited, "front"),
        Vec::<&str>::new(),
        "the audit lists no deny a review overturns"
    );
    assert!(
        stand_in.object_gets() >= gets + 2,
        "the review and the audit each confirmed with a GET"
    );
}
