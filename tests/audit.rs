//! The audit pass against the stand-in API server (a test double): every qcloud Ingress the
//! cluster already has is judged as it stands, and judged again when it, a Service it uses or an
//! Ingress on its CLB changes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed set-up is a failed test"
)]

mod common;
mod stand_in_apiserver;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qcloud_ingress_webhook::audit::Report;
use qcloud_ingress_webhook::audit::live::{AuditConfig, Auditor};
use qcloud_ingress_webhook::cluster::ClusterView as _;
use qcloud_ingress_webhook::cluster::live::{self, LiveCluster, LiveConfig};
use qcloud_ingress_webhook::rules::{Engine, Settings};
use serde_json::json;
use stand_in_apiserver::{StandIn, ingress, service};

struct Audit {
    auditor: Arc<Auditor>,
    task: tokio::task::JoinHandle<()>,
    notified: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Audit {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn audit(stand_in: &StandIn) -> Audit {
    common::install_provider();
    let dir = tempfile::tempdir().unwrap();
    let client = live::client(Some(&stand_in.kubeconfig(dir.path())), None)
        .await
        .unwrap();
    let config = LiveConfig {
        keep_ingresses: true,
        ..LiveConfig::default()
    };
    let view = Arc::new(LiveCluster::start(client, config));
    eventually("the view syncs", || view.is_ready()).await;
    let engine = Arc::new(Engine::new(Settings::default()).unwrap());
    let pace = AuditConfig {
        interval: Duration::from_secs(3600),
        rate: 100,
        debounce: Duration::from_millis(50),
    };
    let notified = Arc::new(Mutex::new(Vec::new()));
    let seen = notified.clone();
    let auditor = Arc::new(Auditor::new(engine, view, pace).unwrap().on_deny_change(
        move |(namespace, name), _| {
            seen.lock().unwrap().push(format!("{namespace}/{name}"));
        },
    ));
    let task = tokio::spawn(auditor.clone().run());
    Audit {
        auditor,
        task,
        notified,
        _dir: dir,
    }
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(15);
    while !condition() {
        assert!(Instant::now() < give_up, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn rules_of(report: &Report, name: &str) -> Vec<&'static str> {
    report
        .findings
        .iter()
        .filter(|e| e.name == name)
        .map(|e| e.rule)
        .collect()
}

fn cluster_ip(name: &str) -> serde_json::Value {
    let mut svc = service("shop", name, 80);
    svc["spec"]["type"] = json!("ClusterIP");
    svc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_ingresses_are_judged_and_judged_again_when_they_change() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("shop", "web", 80));
    stand_in.apply(cluster_ip("internal"));
    stand_in.apply(ingress("shop", "good", "a.example.com", "web", None));
    stand_in.apply(ingress(
        "shop",
        "clusterip",
        "b.example.com",
        "internal",
        None,
    ));
    stand_in.apply(ingress("shop", "localhost", "localhost", "web", None));
    let mut nginx = ingress("shop", "other", "localhost", "web", None);
    nginx["metadata"]["annotations"]["kubernetes.io/ingress.class"] = json!("nginx");
    stand_in.apply(nginx);
    let audit = audit(&stand_in).await;
    let auditor = &audit.auditor;
    eventually("the first pass ends", || {
        auditor.report().last_pass.is_some()
    })
    .await;
    let report = auditor.report();
    assert_eq!(report.ingresses, 3, "three qcloud Ingresses: {report:?}");
    assert_eq!(rules_of(&report, "good"), Vec::<&str>::new());
    assert_eq!(rules_of(&report, "clusterip"), ["backend-service-type"]);
    assert_eq!(rules_of(&report, "localhost"), ["host-grammar"]);
    assert_eq!(report.denied(), 2);
    let counts = auditor.counts();
    assert_eq!(counts.get(&("host-grammar", "deny")), Some(&1));

    // The Service becomes NodePort: the Ingress using it is judged again.
    stand_in.apply(service("shop", "internal", 80));
    eventually("the fixed Service clears its Ingress", || {
        rules_of(&auditor.report(), "clusterip").is_empty()
    })
    .await;
    // A deleted Ingress leaves the report.
    stand_in.delete("Ingress", "shop", "localhost");
    eventually("the deleted Ingress leaves", || {
        auditor.report().ingresses == 2
    })
    .await;
    assert_eq!(auditor.report().denied(), 0);

    let mut notified = audit.notified.lock().unwrap().clone();
    notified.sort();
    assert_eq!(notified, ["shop/clusterip", "shop/localhost"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_ingress_on_a_taken_clb_makes_both_conflict() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("shop", "web", 80));
    stand_in.apply(ingress(
        "shop",
        "first",
        "a.example.com",
        "web",
        Some("lb-6swt1234"),
    ));
    let audit = audit(&stand_in).await;
    let auditor = &audit.auditor;
    eventually("the first pass ends", || {
        auditor.report().last_pass.is_some()
    })
    .await;
    assert_eq!(auditor.report().findings, vec![]);
    stand_in.apply(ingress(
        "shop",
        "second",
        "b.example.com",
        "web",
        Some("lb-6swt1234"),
    ));
    eventually("both are reported", || {
        let report = auditor.report();
        rules_of(&report, "first") == ["exist-lb-in-use"]
            && rules_of(&report, "second") == ["exist-lb-in-use"]
    })
    .await;
}
