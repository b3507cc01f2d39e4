//! The cluster view at scale: bytes kept per cached Service, Ingress and Secret (the growth of
//! this process's RSS while 100,000 of one kind are inserted, printed first), and the time to
//! read and insert a state of 10k Services + 10k Ingresses + 2k Secrets (a `kubectl get -o json`
//! List) and to look one Service up in it.
//!
//! `cargo bench --bench cluster`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "bench set-up: a failed set-up is a failed bench"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::api::networking::v1::Ingress;
use qcloud_ingress_webhook::cluster::summary::summarise_qcloud;
use qcloud_ingress_webhook::cluster::{
    ClusterLookup, ClusterState, SecretCertIds, ServicePortSummary, ServiceSummary, state_file,
};
use serde_json::{Value, json};

const N: usize = 100_000;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn ns(i: usize) -> String {
    format!("team-{}", i % 1000)
}

fn service(i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": format!("app-{i}"), "namespace": ns(i)},
           "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "nodePort": 30_000 + i % 2_768}]}})
}

fn ingress(i: usize) -> Value {
    let host = format!("app-{i}.{}.example.com", ns(i));
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": format!("ing-{i}"), "namespace": ns(i),
                        "annotations": {"kubernetes.io/ingress.class": "qcloud",
                                        "kubernetes.io/ingress.qcloud-loadbalance-id": format!("lb-{i:08x}")}},
           "spec": {"rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
               "backend": {"service": {"name": format!("app-{i}"), "port": {"number": 80}}}}]}}]}})
}

fn secret(i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("tls-{i}"), "namespace": ns(i)},
           "data": {"qcloud_cert_id": "QzAwMDAwMDE="}})
}

/// RSS growth per object while `N` are inserted by `insert`.
fn per_object(what: &str, mut insert: impl FnMut(&mut ClusterState, usize)) -> ClusterState {
    let mut state = ClusterState::default();
    let before = rss_bytes();
    for i in 0..N {
        insert(&mut state, i);
    }
    let grown = rss_bytes().saturating_sub(before);
    println!("cluster/bytes-per-{what}: {}", grown / N as u64);
    state
}

fn bytes_per_object() {
    let kept = [
        per_object("service", |s, i| {
            let summary = ServiceSummary {
                service_type: "NodePort".into(),
                ports: vec![ServicePortSummary {
                    name: Some("http".into()),
                    port: 80,
                    node_port: Some(30_080),
                }]
                .into(),
                ..ServiceSummary::default()
            };
            s.insert_service(&ns(i), &format!("app-{i}"), summary);
        }),
        per_object("ingress", |s, i| {
            let object: Ingress = serde_json::from_value(ingress(i)).unwrap();
            s.insert_ingress(summarise_qcloud(&object, &ns(i)).unwrap());
        }),
        per_object("secret", |s, i| {
            let ids = SecretCertIds {
                cert_id: Some(format!("C{i:07}").into_bytes()),
                ca_cert_id: None,
            };
            s.insert_secret(&ns(i), &format!("tls-{i}"), ids);
        }),
    ];
    drop(black_box(kept));
}

fn state_text() -> String {
    let items: Vec<Value> = (0..10_000)
        .flat_map(|i| [service(i), ingress(i)])
        .chain((0..2_000).map(secret))
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

fn cluster(c: &mut Criterion) {
    bytes_per_object();
    let text = state_text();
    c.bench_function("cluster/load-10k", |b| {
        b.iter(|| {
            let mut state = ClusterState::default();
            for object in state_file::read(black_box(&text), false).unwrap() {
                state_file::insert(&mut state, object, "default");
            }
            state
        });
    });
    let mut state = ClusterState::default();
    for object in state_file::read(&text, false).unwrap() {
        state_file::insert(&mut state, object, "default");
    }
    c.bench_function("cluster/service-lookup-10k", |b| {
        b.iter(|| state.service(black_box("team-7"), black_box("app-7")));
    });
}

criterion_group!(benches, cluster);
criterion_main!(benches);
