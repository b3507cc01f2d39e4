//! Decoding: an AdmissionReview body (as the API server sends it) to the Ingress the rules see,
//! for v1 and v1beta1 objects, and the whole answer (decode, rules, encode) as the server runs it.
//!
//! `cargo bench --bench decode`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "bench set-up: a failed set-up is a failed bench"
)]

mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qcloud_ingress_webhook::cluster::ClusterState;
use qcloud_ingress_webhook::cluster::offline::OfflineCluster;
use qcloud_ingress_webhook::http::envelope::parse_review;
use qcloud_ingress_webhook::http::review::{Endpoint, answer};
use qcloud_ingress_webhook::http::{AppState, Limits};
use qcloud_ingress_webhook::ingress::{self, DecodedIngress};
use qcloud_ingress_webhook::rules::{Engine, ObjectInput, Settings};
use support::Version;

/// Body → envelope → Ingress in v1 types, as the server does before the rules run.
fn decode_body(body: &[u8]) -> DecodedIngress<'_> {
    let parsed = parse_review(body, Endpoint::Validate).unwrap();
    match parsed.request.unwrap().object.unwrap() {
        // v1: read with the envelope, in one pass.
        ObjectInput::Read(decoded) => *decoded,
        ObjectInput::Text(text) => ingress::decode_raw(text.get(), "networking.k8s.io/v1").unwrap(),
    }
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for version in [Version::V1, Version::V1beta1] {
        let inputs = [
            ("allowed", support::allowed(version)),
            ("denied", support::denied(version)),
            ("rules-1", support::with_rules(version, 1)),
            ("rules-50", support::with_rules(version, 50)),
            ("rules-500", support::with_rules(version, 500)),
        ];
        for (name, object) in inputs {
            let body = support::review_body(version, object);
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_with_input(BenchmarkId::new(version.name(), name), &body, |b, body| {
                b.iter(|| decode_body(black_box(body)));
            });
            if matches!(version, Version::V1) {
                // The floor of any serde_json reader: the body checked and skipped, nothing kept.
                group.bench_with_input(BenchmarkId::new("skip-only", name), &body, |b, body| {
                    b.iter(|| {
                        serde_json::from_slice::<serde::de::IgnoredAny>(black_box(body)).unwrap()
                    });
                });
            }
        }
    }
    group.finish();
}

fn app_state(state: ClusterState) -> AppState {
    let engine = Arc::new(Engine::new(Settings::default()).unwrap());
    AppState::new(
        engine,
        Arc::new(OfflineCluster::new(state)),
        Limits::default(),
    )
}

/// The whole answer to one body on `/validate`: decode, look-ups, rules, JSON encoding, metrics.
fn answer_validate(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("answer");
    for (state_name, state) in [
        ("small", support::small_state()),
        ("10k", support::large_state()),
    ] {
        let app = app_state(state);
        for (name, object) in [
            ("allowed", support::allowed(Version::V1)),
            ("denied", support::denied(Version::V1)),
        ] {
            let body = support::review_body(Version::V1, object);
            group.bench_with_input(BenchmarkId::new(state_name, name), &body, |b, body| {
                b.iter(|| {
                    runtime
                        .block_on(answer(
                            &app,
                            Endpoint::Validate,
                            black_box(body),
                            Instant::now(),
                            Duration::from_secs(10),
                        ))
                        .unwrap()
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decode, answer_validate);
criterion_main!(benches);
