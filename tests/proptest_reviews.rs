//! Property tests: no body, however broken, makes the webhook panic, hang or answer outside the
//! contract. Runs the review handler in-process (no sockets) for speed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use qcloud_ingress_webhook::http::review::{self, Endpoint};
use qcloud_ingress_webhook::http::{AppState, Limits};
use qcloud_ingress_webhook::rules::{Engine, Settings};
use serde_json::{Value, json};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
});

static STATE: LazyLock<AppState> = LazyLock::new(|| {
    AppState::new(
        Arc::new(Engine::new(Settings::default()).unwrap()),
        common::seed_cluster(),
        Limits::default(),
    )
});

static SEEDS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    [
        "examples/reviews/tke-ingress-demo.json",
        "examples/reviews/tke-ingress-ssl.json",
        "examples/reviews/tke-ingress-ssl-rule-mix-v1beta1.json",
        "examples/reviews/mistake-clusterip-backend.json",
        "tests/fixtures/mistake-secret-without-cert-id.json",
        "tests/fixtures/mistake-bad-http-rules.json",
    ]
    .iter()
    .map(|p| common::fixture(p))
    .collect()
});

/// Answers `body` and checks the contract: either a one-line 400 reason, or an AdmissionReview
/// of the request's version with the request's uid.
fn check_contract(body: &[u8], endpoint: Endpoint) -> Result<(), TestCaseError> {
    let answer = RUNTIME.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(5),
            review::answer(
                &STATE,
                endpoint,
                body,
                Instant::now(),
                Duration::from_secs(10),
            ),
        )
        .await
    });
    let Ok(answer) = answer else {
        return Err(TestCaseError::fail("review hung"));
    };
    let sent: Option<Value> = serde_json::from_slice(body).ok();
    match answer {
        Err(unreadable) => {
            prop_assert!(!unreadable.0.contains('\n'), "{}", unreadable.0);
            prop_assert!(!unreadable.0.is_empty());
        }
        Ok(bytes) => {
            let answer: Value = serde_json::from_slice(&bytes).unwrap();
            let sent = sent.expect("only JSON bodies are answered");
            prop_assert_eq!(&answer["apiVersion"], &sent["apiVersion"]);
            prop_assert_eq!(&answer["kind"], "AdmissionReview");
            let response = &answer["response"];
            prop_assert_eq!(&response["uid"], &sent["request"]["uid"]);
            prop_assert!(response["allowed"].is_boolean());
            if response["allowed"] == false {
                prop_assert!(response["status"]["code"].as_u64().unwrap_or(0) >= 400);
                let message = response["status"]["message"].as_str().unwrap_or_default();
                prop_assert!(!message.is_empty());
            }
            if endpoint == Endpoint::Validate {
                prop_assert!(response.get("patch").is_none());
                prop_assert!(response.get("patchType").is_none());
            }
            for warning in response["warnings"].as_array().into_iter().flatten() {
                let w = warning.as_str().unwrap_or_default();
                prop_assert!(!w.contains('\n') && w.chars().count() <= 120, "{}", w);
            }
        }
    }
    Ok(())
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
        Just(json!("qcloud")),
        Just(json!("Ingress")),
        Just(json!("80")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("serviceName".to_owned()),
                    Just("servicePort".to_owned()),
                    Just("host".to_owned()),
                    Just("path".to_owned()),
                    Just("backend".to_owned()),
                    "[a-zA-Z]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer inside `value`.
fn pointers(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, &p, out);
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(Value),
    Remove,
}

fn mutate(review: &mut Value, pick: usize, mutation: Mutation) {
    let mut all = Vec::new();
    pointers(review, "", &mut all);
    if all.is_empty() {
        return;
    }
    let pointer = &all[pick % all.len()];
    match mutation {
        Mutation::Replace(v) => {
            if let Some(slot) = review.pointer_mut(pointer) {
                *slot = v;
            }
        }
        Mutation::Remove => {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            match review.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&key.replace("~1", "/").replace("~0", "~"));
                }
                Some(Value::Array(items)) => {
                    if let Ok(i) = key.parse::<usize>()
                        && i < items.len()
                    {
                        items.remove(i);
                    }
                }
                _ => {}
            }
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any_json().prop_map(Mutation::Replace),
        Just(Mutation::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_answered_or_refused_in_one_line(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check_contract(&body, Endpoint::Validate)?;
    }

    #[test]
    fn random_json_is_answered_or_refused_in_one_line(value in any_json()) {
        check_contract(&serde_json::to_vec(&value).unwrap(), Endpoint::Mutate)?;
    }

    #[test]
    fn mutated_reviews_keep_the_contract(
        seed in 0usize..6,
        edits in prop::collection::vec((any::<usize>(), mutation()), 1..4),
        validate in any::<bool>(),
    ) {
        let mut review = SEEDS[seed].clone();
        for (pick, m) in edits {
            mutate(&mut review, pick, m);
        }
        let endpoint = if validate { Endpoint::Validate } else { Endpoint::Mutate };
        check_contract(&serde_json::to_vec(&review).unwrap(), endpoint)?;
    }

    #[test]
    fn random_annotation_json_keeps_the_contract(
        seed in 0usize..6,
        key in prop_oneof![
            Just("kubernetes.io/ingress.http-rules"),
            Just("kubernetes.io/ingress.https-rules"),
            Just("kubernetes.io/ingress.extensiveParameters"),
            Just("kubernetes.io/ingress.rule-mix"),
            Just("kubernetes.io/ingress.internetMaxBandwidthOut"),
        ],
        value in prop_oneof![
            any_json().prop_map(|v| v.to_string()),
            ".{0,40}",
        ],
    ) {
        let mut review = SEEDS[seed].clone();
        review["request"]["object"]["metadata"]["annotations"][key] = Value::String(value);
        check_contract(&serde_json::to_vec(&review).unwrap(), Endpoint::Validate)?;
    }
}

#[test]
fn the_mutator_really_changes_reviews() {
    let mut review = SEEDS[0].clone();
    mutate(&mut review, 3, Mutation::Remove);
    assert_ne!(review, SEEDS[0]);
    let mut review = SEEDS[0].clone();
    mutate(&mut review, 5, Mutation::Replace(json!("x")));
    assert_ne!(review, SEEDS[0]);
}
