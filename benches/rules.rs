//! Rule evaluation: `Engine::validate` on allowed and denied Ingresses and on Ingresses of 1, 50
//! and 500 rules, against the small cluster state and against 10k Services + 10k Ingresses + 2k
//! Secrets. The cost should be flat in the state and linear in the rules.
//!
//! `cargo bench --bench rules`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "bench set-up: a failed set-up is a failed bench"
)]

mod support;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use qcloud_ingress_webhook::ingress::{self, DecodedIngress};
use qcloud_ingress_webhook::rules::{Engine, Operation, Review, Settings};
use support::Version;

/// The object's text, kept for the Ingress that borrows from it.
fn text(object: &serde_json::Value) -> (String, String) {
    let api_version = object["apiVersion"].as_str().unwrap().to_owned();
    (object.to_string(), api_version)
}

/// The Ingress as the review path reads it, from the text.
fn decoded((text, api_version): &(String, String)) -> DecodedIngress<'_> {
    ingress::decode_raw(text, api_version).unwrap()
}

fn validate(c: &mut Criterion) {
    let engine = Engine::new(Settings::default()).unwrap();
    let texts = [
        ("allowed", text(&support::allowed(Version::V1))),
        ("denied", text(&support::denied(Version::V1))),
        ("rules-1", text(&support::with_rules(Version::V1, 1))),
        ("rules-50", text(&support::with_rules(Version::V1, 50))),
        ("rules-500", text(&support::with_rules(Version::V1, 500))),
    ];
    let inputs = texts.each_ref().map(|(name, text)| (*name, decoded(text)));
    let mut group = c.benchmark_group("validate");
    for (state_name, state) in [
        ("small", support::small_state()),
        ("10k", support::large_state()),
    ] {
        for (name, ingress) in &inputs {
            group.bench_with_input(BenchmarkId::new(state_name, name), ingress, |b, decoded| {
                b.iter(|| {
                    engine.validate(black_box(&Review {
                        operation: Operation::Create,
                        namespace: support::NAMESPACE,
                        ingress: &decoded.ingress,
                        version: decoded.version,
                        old: None,
                        cluster: &state,
                        cloud: &qcloud_ingress_webhook::cluster::CloudFacts::default(),
                    }))
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
