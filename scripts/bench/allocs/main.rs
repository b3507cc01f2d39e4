//! Allocations per review, by step, for the bodies of `benches/support` (the shapes of
//! `scripts/bench/make_inputs.py`): reading the envelope and the Ingress, the rules, and the
//! whole `/validate` answer (driver, look-ups, encoding, metrics). Counts, not bytes: each is a
//! malloc and a free on the server's one worker.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[path = "../../../benches/support/mod.rs"]
mod support;

use qcloud_ingress_webhook::cluster::CloudFacts;
use qcloud_ingress_webhook::cluster::offline::OfflineCluster;
use qcloud_ingress_webhook::http::envelope::parse_review;
use qcloud_ingress_webhook::http::review::{Endpoint, answer};
use qcloud_ingress_webhook::http::{AppState, Limits};
use qcloud_ingress_webhook::ingress;
use qcloud_ingress_webhook::rules::{Engine, Operation, Review, Settings};
use support::Version;

/// The system allocator, counting calls that allocate.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Allocations made by `f`.
fn counted<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let out = f();
    (ALLOCATIONS.load(Ordering::Relaxed) - before, out)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = Arc::new(Engine::new(Settings::default()).unwrap());
    let state = support::small_state();
    let app = AppState::new(
        engine.clone(),
        Arc::new(OfflineCluster::new(support::small_state())),
        Limits::default(),
    );
    let cloud = CloudFacts::default();
    println!("{:<10} {:>9} {:>7} {:>7}", "body", "envelope", "rules", "answer");
    for (name, object) in [
        ("allowed", support::allowed(Version::V1)),
        ("denied", support::denied(Version::V1)),
        ("rules-50", support::with_rules(Version::V1, 50)),
        ("rules-500", support::with_rules(Version::V1, 500)),
    ] {
        let body = support::review_body(Version::V1, object.clone());
        let (envelope, parsed) = counted(|| parse_review(&body, Endpoint::Validate).unwrap());
        drop(parsed);
        let text = object.to_string();
        let decoded = ingress::decode_raw(&text, "networking.k8s.io/v1").unwrap();
        let review = Review {
            operation: Operation::Create,
            namespace: support::NAMESPACE,
            ingress: &decoded.ingress,
            version: decoded.version,
            old: None,
            cluster: &state,
            cloud: &cloud,
        };
        let (rules, verdict) = counted(|| engine.validate(&review));
        drop(verdict);
        let started = Instant::now();
        let budget = Duration::from_secs(10);
        let (whole, answered) = counted(|| {
            runtime.block_on(answer(&app, Endpoint::Validate, &body, started, budget))
        });
        drop(answered);
        println!("{name:<10} {envelope:>9} {rules:>7} {whole:>7}");
    }
}
