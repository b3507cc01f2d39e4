//! Fuzzes decoding and rule evaluation through the same entry point the HTTP handler uses:
//! arbitrary bytes as an AdmissionReview body, and arbitrary strings as the JSON annotations of
//! a valid review. Any panic or hang is a bug.
#![no_main]

use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use qcloud_ingress_webhook::cluster::offline::OfflineCluster;
use qcloud_ingress_webhook::http::review::{self, Endpoint};
use qcloud_ingress_webhook::http::{AppState, Limits};
use qcloud_ingress_webhook::rules::{Engine, Settings};
use serde_json::Value;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
});

static STATE: LazyLock<AppState> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cluster = OfflineCluster::from_paths(&[
        root.join("examples/cluster-state"),
        root.join("tests/fixtures/cluster-state"),
    ])
    .unwrap();
    AppState::new(
        Arc::new(Engine::new(Settings::default()).unwrap()),
        Arc::new(cluster),
        Limits::default(),
    )
});

static SEED: LazyLock<Value> = LazyLock::new(|| {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/reviews/tke-ingress-ssl-rule-mix-v1beta1.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
});

const ANNOTATIONS: [&str; 4] = [
    "kubernetes.io/ingress.http-rules",
    "kubernetes.io/ingress.https-rules",
    "kubernetes.io/ingress.extensiveParameters",
    "kubernetes.io/ingress.rule-mix",
];

fn answer(body: &[u8], endpoint: Endpoint) {
    let _ = RUNTIME.block_on(review::answer(
        &STATE,
        endpoint,
        body,
        Instant::now(),
        Duration::from_secs(10),
    ));
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => answer(rest, Endpoint::Validate),
        1 => answer(rest, Endpoint::Mutate),
        _ => {
            let mut review = SEED.clone();
            let key = ANNOTATIONS[usize::from(mode / 3) % ANNOTATIONS.len()];
            review["request"]["object"]["metadata"]["annotations"][key] =
                Value::String(String::from_utf8_lossy(rest).into_owned());
            answer(&serde_json::to_vec(&review).unwrap(), Endpoint::Validate);
        }
    }
});
