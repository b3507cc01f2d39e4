//! What reviewing a body costs in memory, per byte of body, measured with a counting allocator:
//! the peak of live heap bytes while one review is answered, over the heap before it. The
//! memory budget reserves `Limits::reservation` of each body before reading it; if a
//! legal review took more than that, concurrent reviews could together pass the budget. So each
//! shape of a legal Ingress the API server could send (many paths, many annotations, a long
//! http-rules annotation, many TLS hosts, bulky managedFields), as a CREATE and as an UPDATE
//! (object and old object), on both endpoints, must stay within `Limits::reservation`.
//!
//! `cargo test --test review_memory -- --nocapture` prints the measured ratios.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed set-up is a failed test"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use qcloud_ingress_webhook::cluster::offline::OfflineCluster;
use qcloud_ingress_webhook::cluster::{ClusterState, ServicePortSummary, ServiceSummary};
use qcloud_ingress_webhook::http::review::{Endpoint, answer};
use qcloud_ingress_webhook::http::{AppState, Limits};
use qcloud_ingress_webhook::rules::{Engine, Settings};
use serde_json::{Value, json};

/// The system allocator, counting live bytes and their peak.
#[global_allocator]
static ALLOCATOR: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

/// An Ingress of about `bytes` of JSON, grown by `shape`.
fn ingress(shape: &str, bytes: usize) -> Value {
    let mut object = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "big", "namespace": "shop", "uid": "4f2b8f6e-0000-4000-8000-000000000001",
                     "annotations": {"kubernetes.io/ingress.class": "qcloud"}},
        "spec": {"rules": [{"host": "a.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    });
    let mut grown = 0;
    let mut i = 0usize;
    while grown < bytes {
        match shape {
            "paths" => {
                let path = json!({"path": format!("/p{i}"), "pathType": "Prefix",
                                  "backend": {"service": {"name": "web", "port": {"number": 80}}}});
                grown += path.to_string().len() + 1;
                object["spec"]["rules"][0]["http"]["paths"]
                    .as_array_mut()
                    .unwrap()
                    .push(path);
            }
            "annotations" => {
                let key = format!("example.com/a{i}");
                grown += key.len() + 8;
                object["metadata"]["annotations"][key] = json!("v");
            }
            "tls-hosts" => {
                let host = format!("h{i}.example.com");
                grown += host.len() + 3;
                if i == 0 {
                    object["spec"]["tls"] = json!([{"hosts": [], "secretName": "tls"}]);
                }
                object["spec"]["tls"][0]["hosts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!(host));
            }
            "managed-fields" => {
                let entry = json!({"manager": format!("m{i}"), "operation": "Update",
                                   "apiVersion": "networking.k8s.io/v1", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}}});
                grown += entry.to_string().len() + 1;
                if i == 0 {
                    object["metadata"]["managedFields"] = json!([]);
                }
                object["metadata"]["managedFields"]
                    .as_array_mut()
                    .unwrap()
                    .push(entry);
            }
            _ => unreachable!("no such shape"),
        }
        i += 1;
    }
    object
}

/// The http-rules annotation with entries adding up to about `bytes`.
fn http_rules_ingress(bytes: usize) -> Value {
    let mut entries = Vec::new();
    let mut grown = 0;
    let mut i = 0usize;
    while grown < bytes {
        let entry = json!({"host": "a.example.com", "path": format!("/r{i}"),
                           "backend": {"serviceName": "web", "servicePort": "80"}});
        grown += entry.to_string().len() + 3;
        entries.push(entry);
        i += 1;
    }
    let mut object = ingress("paths", 0);
    object["metadata"]["annotations"]["kubernetes.io/ingress.http-rules"] =
        json!(Value::Array(entries).to_string());
    object
}

fn review(object: &Value, update: bool) -> Vec<u8> {
    let mut request = json!({
        "uid": "4f2b8f6e-0000-4000-8000-00000000feed",
        "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
        "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "ingresses"},
        "name": "big", "namespace": "shop",
        "operation": if update { "UPDATE" } else { "CREATE" },
        "userInfo": {"username": "kubernetes-admin"},
        "object": object,
    });
    if update {
        request["oldObject"] = object.clone();
    }
    serde_json::to_vec(
        &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                               "request": request}),
    )
    .unwrap()
}

/// Peak heap bytes above the baseline while `body` is answered on `endpoint`.
fn peak_of(
    state: &AppState,
    runtime: &tokio::runtime::Runtime,
    endpoint: Endpoint,
    body: &[u8],
) -> usize {
    let baseline = ALLOCATOR.current_usage();
    ALLOCATOR.reset_peak_usage();
    let answered = runtime.block_on(answer(
        state,
        endpoint,
        body,
        Instant::now(),
        Duration::from_secs(60),
    ));
    let peak = ALLOCATOR.peak_usage();
    assert!(answered.is_ok(), "answered");
    drop(answered);
    peak.saturating_sub(baseline)
}

/// Shapes and object sizes the API server accepts: annotations (here `annotations` and
/// `http-rules`) total at most 256 KiB, an object at most about 3 MiB of JSON.
fn legal_objects() -> Vec<(String, Value)> {
    let mut objects = Vec::new();
    for size in [256 * 1024, 1024 * 1024, 2_900 * 1024] {
        for shape in ["paths", "tls-hosts", "managed-fields"] {
            objects.push((format!("{shape} {size}"), ingress(shape, size)));
        }
    }
    let annotations = 250 * 1024;
    objects.push((
        format!("annotations {annotations}"),
        ingress("annotations", annotations),
    ));
    objects.push((
        format!("http-rules {annotations}"),
        http_rules_ingress(annotations),
    ));
    objects
}

/// The offline webhook with one NodePort Service, warmed up (lazily built schemas are not a
/// review's).
fn webhook(runtime: &tokio::runtime::Runtime) -> AppState {
    let mut cluster = ClusterState::default();
    let service = ServiceSummary {
        service_type: "NodePort".into(),
        ports: vec![ServicePortSummary {
            name: None,
            port: 80,
            node_port: Some(30080),
        }]
        .into(),
        ..ServiceSummary::default()
    };
    cluster.insert_service("shop", "web", service);
    let engine = Arc::new(Engine::new(Settings::default()).unwrap());
    let state = AppState::new(
        engine,
        Arc::new(OfflineCluster::new(cluster)),
        Limits::default(),
    );
    let small = review(&http_rules_ingress(1_000), false);
    for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
        peak_of(&state, runtime, endpoint, &small);
    }
    state
}

#[test]
fn every_legal_review_stays_within_its_reservation() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = webhook(&runtime);
    let limits = Limits::default();
    let mut over = Vec::new();
    for (what, object) in legal_objects() {
        for update in [false, true] {
            let body = review(&object, update);
            let reserved = limits.reservation(body.len());
            for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
                let peak = peak_of(&state, &runtime, endpoint, &body);
                let line = format!(
                    "{what} {} {endpoint:?}: body {} peak {peak} ({:.1}x) reserved {reserved}",
                    if update { "UPDATE" } else { "CREATE" },
                    body.len(),
                    ratio(peak, body.len())
                );
                println!("{line}");
                if peak > reserved {
                    over.push(line);
                }
            }
        }
    }
    assert!(
        over.is_empty(),
        "reviews over their reservation:\n{}",
        over.join("\n")
    );
}

/// With the defaults, the largest body the API server can send is reviewed, not refused: its
/// reservation fits in the three quarters of the budget one request may hold.
#[test]
fn the_largest_legal_review_fits_the_default_budget() {
    let limits = Limits::default();
    let one_request = limits.request_memory_budget / 4 * 3;
    assert!(
        limits.reservation(limits.max_body_bytes) <= one_request,
        "{} bytes reserved for a {} byte body, {one_request} allowed",
        limits.reservation(limits.max_body_bytes),
        limits.max_body_bytes
    );
    assert_eq!(
        limits.largest_body_within(one_request),
        limits.max_body_bytes
    );
}

#[allow(clippy::cast_precision_loss, reason = "a ratio to print")]
fn ratio(peak: usize, body: usize) -> f64 {
    peak as f64 / body as f64
}
