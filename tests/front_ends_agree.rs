//! `check` tells a CI pipeline what `kubectl apply` will say later: for every AdmissionReview in
//! `examples/reviews/` and `tests/fixtures/`, and every Ingress in the manifests of
//! `tests/fixtures/check/` and the real-world `tests/corpus/`, the running server (over TLS) and
//! `check` (given the object, with the same cluster state) reach the same decision with the same
//! rule ids: `/mutate` then `/validate` of the patched object (as the API server chains them)
//! against `check`, `/validate` alone against `check --no-mutate`.
//!
//! Reviews are sent as CREATEs: `check` reviews manifests, which have no old object to ratchet
//! against. The server names its rules in `response.auditAnnotations.rules`. `check` reads the
//! server's cluster the way `check --kubeconfig` reads a live one (whole, so a missing object
//! is missing rather than unresolved).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{Options, TestServer, repo_path};
use qcloud_ingress_webhook::check::{self, Report};
use qcloud_ingress_webhook::cluster::offline::OfflineCluster;
use qcloud_ingress_webhook::cluster::state_file::{self, Object};
use qcloud_ingress_webhook::cluster::{ClusterLookup, ClusterState};
use qcloud_ingress_webhook::rules::{Settings, Severity};
use serde_json::{Value, json};

/// What one front end says about one Ingress.
#[derive(Debug, PartialEq, Eq)]
struct Verdict {
    allowed: bool,
    rules: BTreeSet<String>,
}

/// One Ingress to judge, with the cluster state both front ends read.
struct Case {
    /// Where it comes from, for failure messages.
    origin: String,
    object: Value,
    namespace: String,
    state: Vec<PathBuf>,
}

/// The seed blog's state plus the objects the mistake fixtures refer to.
fn repo_state() -> Vec<PathBuf> {
    vec![
        repo_path("examples/cluster-state"),
        repo_path("tests/fixtures/cluster-state"),
    ]
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn review_cases() -> Vec<Case> {
    let dirs = [repo_path("examples/reviews"), repo_path("tests/fixtures")];
    dirs.iter()
        .flat_map(|d| json_files(d))
        .map(|file| {
            let review: Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            Case {
                origin: file.display().to_string(),
                object: review["request"]["object"].clone(),
                namespace: review["request"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_owned(),
                state: repo_state(),
            }
        })
        .collect()
}

/// Every YAML file under `dir`, recursively.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// True when `check` reads the file without an input error (a parse error, a TAB kubectl refuses,
/// an apiVersion no server serves): those never reach the server.
fn usable(file: &Path) -> bool {
    let options = check::Options {
        inputs: vec![file.to_owned()],
        cluster_state: Vec::new(),
        settings: Settings::default(),
        namespace: "default".into(),
        mutate: true,
        strict: false,
        cloud: None,
    };
    check::run(&options, None, &mut std::io::empty()).is_ok_and(|r| r.errors.is_empty())
}

/// Every Ingress of every usable manifest; its own file is its cluster state.
fn manifest_cases(dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    for file in yaml_files(dir).into_iter().filter(|f| usable(f)) {
        let text = std::fs::read_to_string(&file).unwrap();
        let Ok(objects) = state_file::read(&text, true) else {
            continue;
        };
        for object in objects {
            if let Object::Ingress {
                object: Some(object),
                namespace,
                ..
            } = object
            {
                cases.push(Case {
                    origin: format!("{} ({})", file.display(), object["metadata"]["name"]),
                    object,
                    namespace: namespace.unwrap_or_else(|| "default".to_owned()),
                    state: vec![file.clone()],
                });
            }
        }
    }
    cases
}

fn server_verdict(response: &Value) -> Verdict {
    let rules = response["auditAnnotations"]["rules"]
        .as_str()
        .unwrap_or_default();
    Verdict {
        allowed: response["allowed"] == true,
        rules: rules
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// What `check` says; findings an Ingress's skip annotation skipped neither deny nor count as
/// rules that found something (the server names them in `auditAnnotations.skipped`).
fn check_verdict(report: &Report) -> Verdict {
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let found = || report.findings.iter().filter(|f| f.skipped.is_none());
    Verdict {
        allowed: !found().any(|f| f.finding.severity == Severity::Deny),
        rules: found().map(|f| f.finding.rule.id.to_owned()).collect(),
    }
}

/// The server's cluster, as `check --kubeconfig` reads a live one: the whole cluster, so a
/// missing object is missing, not unresolved.
struct SameCluster(Arc<ClusterState>);

impl check::LiveCluster for SameCluster {
    fn lookup(&self, _namespace: &str, _secrets: Vec<String>) -> Arc<dyn ClusterLookup> {
        self.0.clone()
    }

    /// `check` never reads a live Ingress (only `plan --diff` does).
    fn ingress(&self, _namespace: &str, _name: &str) -> anyhow::Result<Option<Value>> {
        Ok(None)
    }
}

/// `check` on the object alone (written to a file), against the server's cluster.
fn run_check(case: &Case, cluster: &SameCluster, dir: &Path, mutate: bool) -> Verdict {
    let file = dir.join("ingress.json");
    std::fs::write(&file, serde_json::to_vec(&case.object).unwrap()).unwrap();
    let options = check::Options {
        inputs: vec![file],
        cluster_state: Vec::new(),
        settings: Settings::default(),
        namespace: case.namespace.clone(),
        mutate,
        strict: false,
        cloud: None,
    };
    check_verdict(&check::run(&options, Some(cluster), &mut std::io::empty()).unwrap())
}

fn review_of(case: &Case, uid: usize) -> Value {
    let object = &case.object;
    let api_version = object["apiVersion"]
        .as_str()
        .unwrap_or("networking.k8s.io/v1");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("agree-{uid}"),
            "kind": {"group": group, "version": version, "kind": "Ingress"},
            "resource": {"group": group, "version": version, "resource": "ingresses"},
            "namespace": case.namespace,
            "name": object["metadata"]["name"],
            "operation": "CREATE",
            "userInfo": {"username": "alice"},
            "object": object,
        }
    })
}

/// The validating webhook's answer, after the mutating webhook's patch when `mutate` (as the API
/// server calls them: /mutate first, its patch applied, then /validate).
async fn through_the_chain(server: &TestServer, review: &Value, mutate: bool) -> Value {
    let mut review = review.clone();
    if mutate {
        let reply = server.review("/mutate", &review).await;
        let response = common::assert_answer(&reply, &review);
        assert_eq!(
            response["allowed"], true,
            "/mutate never denies: {response}"
        );
        if let Some(patch) = response["patch"].as_str() {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(patch)
                .unwrap();
            let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
            json_patch::patch(&mut review["request"]["object"], &patch.0).unwrap();
        }
    }
    let reply = server.review("/validate", &review).await;
    common::assert_answer(&reply, &review)
}

async fn assert_agree(cases: Vec<Case>) {
    assert!(!cases.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let mut disagreements = Vec::new();
    let mut denials = 0;
    for (uid, case) in cases.iter().enumerate() {
        let cluster = OfflineCluster::from_paths(&case.state).unwrap();
        let same = SameCluster(Arc::new(cluster.state().clone()));
        let server = TestServer::start_with(Options {
            cluster: Some(Arc::new(cluster)),
            ..Options::default()
        })
        .await;
        let review = review_of(case, uid);
        for (path, mutate) in [("/mutate", true), ("/validate", false)] {
            let response = through_the_chain(&server, &review, mutate).await;
            let from_server = server_verdict(&response);
            let from_check = run_check(case, &same, dir.path(), mutate);
            denials += usize::from(!from_server.allowed);
            if from_server != from_check {
                disagreements.push(format!(
                    "{} on {path}: server {from_server:?}, check {from_check:?}",
                    case.origin
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    assert!(
        denials > 0,
        "no case is denied: the comparison would prove little"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_and_fixture_reviews() {
    assert_agree(review_cases()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_fixture_manifests() {
    assert_agree(manifest_cases(&repo_path("tests/fixtures/check"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_world_corpus() {
    assert_agree(manifest_cases(&repo_path("tests/corpus"))).await;
}
