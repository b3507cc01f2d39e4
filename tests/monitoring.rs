//! The chart's alerts and dashboard use only metric names a running server serves: the chart is
//! rendered with helm, and every `qcloud_ingress_webhook_*` name in its PrometheusRule and
//! dashboard is looked up in a real scrape of `/metrics` on the admin listener, taken from the
//! server in live mode (against the stand-in API server, so the cache series exist) after it has
//! answered an allowed, a denied and an unreadable review.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed set-up is a failed test"
)]

mod common;
mod helm;
mod stand_in_apiserver;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Options, TestServer, assert_allowed, assert_denied};
use qcloud_ingress_webhook::audit::live::{AuditConfig, Auditor};
use qcloud_ingress_webhook::cluster::live::LiveConfig;
use qcloud_ingress_webhook::rules::{Engine, Settings};
use serde_json::{Value, json};
use stand_in_apiserver::{StandIn, ingress, service};

const PREFIX: &str = "qcloud_ingress_webhook_";

/// Every `qcloud_ingress_webhook_*` word in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.match_indices(PREFIX)
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect()
}

/// Names of the samples in an OpenMetrics exposition (histograms as `_bucket`, `_sum`, `_count`,
/// counters with `_total`), the way PromQL sees them.
fn served_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// The names the chart's PrometheusRule and Grafana dashboard use, rendered with all of the
/// monitoring kit on.
fn names_the_chart_uses(helm: &std::path::Path) -> BTreeSet<String> {
    let values = format!("{}/ci/monitoring-values.yaml", helm::CHART);
    let rendered = helm::template(helm, &["-f", &values]);
    let documents: Vec<Value> = serde_saphyr::from_multiple(&rendered).unwrap();
    let find = |kind: &str, suffix: &str| {
        documents
            .iter()
            .find(|d| {
                d["kind"] == kind
                    && d["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.ends_with(suffix))
            })
            .unwrap_or_else(|| panic!("no {kind} *{suffix} rendered"))
    };
    let rules = find("PrometheusRule", "")["spec"].to_string();
    let dashboard = find("ConfigMap", "-dashboard")["data"]["qcloud-ingress-webhook.json"]
        .as_str()
        .expect("the dashboard JSON")
        .to_owned();
    let rule_names = metric_names(&rules);
    let dashboard_names = metric_names(&dashboard);
    assert!(
        rule_names.len() >= 6,
        "too few names in the rules: {rule_names:?}"
    );
    assert!(
        dashboard_names.len() >= 9,
        "too few names in the dashboard: {dashboard_names:?}"
    );
    rule_names.union(&dashboard_names).cloned().collect()
}

fn review(uid: &str, object: &Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
            "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "ingresses"},
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:authenticated"]},
            "object": object,
            "dryRun": false,
        }
    })
}

/// The server in live mode on `stand_in`, ready (both caches listed).
async fn ready_live_webhook(stand_in: &StandIn) -> (TestServer, tempfile::TempDir) {
    // Before the kube client, which would otherwise pick a provider itself, as main does.
    common::install_provider();
    let config = LiveConfig {
        keep_ingresses: true,
        ..LiveConfig::default()
    };
    let (view, dir) = stand_in.live_view(config).await;
    let view = Arc::new(view);
    let engine = Arc::new(Engine::new(Settings::default()).unwrap());
    let pace = AuditConfig {
        debounce: Duration::from_millis(20),
        ..AuditConfig::default()
    };
    let auditor = Arc::new(Auditor::new(engine, view.clone(), pace).unwrap());
    tokio::spawn(auditor.clone().run());
    // As in certs.mode selfManaged, so the CA's series are served too.
    let authority = Arc::new(qcloud_ingress_webhook::http::authority::AuthorityStatus::default());
    authority.set_serving(1_900_000_000);
    authority.set_bundle_holds_ca(true);
    let server = TestServer::start_with(Options {
        cluster: Some(view),
        audit: Some(auditor.clone()),
        authority: Some(authority),
        ..Options::default()
    })
    .await;
    let give_up = Instant::now() + Duration::from_secs(15);
    while server.admin_get("/readyz").await.0 != 200 || auditor.report().last_pass.is_none() {
        assert!(
            Instant::now() < give_up,
            "the live caches did not sync, or no audit pass ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (server, dir)
}

/// Answers an allowed review, a denied one (and the same on /mutate, which patches and never
/// denies) and an unreadable body, so every labelled series the chart reads exists; returns the
/// scrape.
async fn scrape_after_traffic(server: &TestServer) -> String {
    let allowed = review(
        "0d1e2f3a-0001",
        &ingress("demo", "web", "a.example.com", "web", None),
    );
    assert_allowed(&server.review("/validate", &allowed).await, &allowed);
    let denied = review(
        "0d1e2f3a-0002",
        &ingress("demo", "lost", "b.example.com", "gone", None),
    );
    assert_denied(&server.review("/validate", &denied).await, &denied);
    assert_allowed(&server.review("/mutate", &denied).await, &denied);
    assert_eq!(server.post("/validate", "not a review").await.status, 400);
    let (status, text) = server.admin_get("/metrics").await;
    assert_eq!(status, 200);
    text
}

#[tokio::test]
async fn every_metric_the_chart_uses_is_served() {
    let Some(helm) = helm::helm() else { return };
    let used = names_the_chart_uses(&helm);

    let stand_in = StandIn::start().await;
    stand_in.apply(service("demo", "web", 80));
    // An Ingress already in the cluster that the audit finds wrong.
    stand_in.apply(ingress("demo", "old", "localhost", "web", None));
    let (webhook, _dir) = ready_live_webhook(&stand_in).await;
    let scrape = scrape_after_traffic(&webhook).await;
    let served = served_names(&scrape);

    let missing: Vec<_> = used.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "the chart uses {missing:?}, which /metrics does not serve:\n{scrape}"
    );
    // The label values the alerts select on.
    for label in [
        r#"decision="denied""#,
        r#"endpoint="validate""#,
        r#"endpoint="mutate""#,
        r#"reason="bad_request""#,
        r#"resource="services""#,
        r#"resource="ingresses""#,
        r#"rule="host-grammar",severity="deny""#,
    ] {
        assert!(scrape.contains(label), "{label} missing in\n{scrape}");
    }
}

#[test]
fn names_are_read_as_promql_sees_them() {
    let exposition = "# TYPE qcloud_ingress_webhook_reviews counter\n\
        qcloud_ingress_webhook_reviews_total{decision=\"denied\"} 1\n\
        qcloud_ingress_webhook_review_duration_seconds_bucket{le=\"0.005\"} 1\n\
        qcloud_ingress_webhook_tls_reloads_total 0\n# EOF\n";
    let served = served_names(exposition);
    assert!(served.contains("qcloud_ingress_webhook_reviews_total"));
    assert!(served.contains("qcloud_ingress_webhook_review_duration_seconds_bucket"));
    assert!(served.contains("qcloud_ingress_webhook_tls_reloads_total"));
    assert!(!served.contains("qcloud_ingress_webhook_reviews"));
    let used = metric_names("rate(qcloud_ingress_webhook_reviews_total{a=\"b\"}[5m]) / x");
    assert_eq!(
        used.into_iter().collect::<Vec<_>>(),
        ["qcloud_ingress_webhook_reviews_total"]
    );
}
