//! `/mutate` over real TLS: canonicalising JSON patches that apply to the object as sent, change
//! warnings, validation of the patched object, and no patch where none belongs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;

use base64::Engine as _;
use common::{TestServer, assert_allowed, assert_denied, edited, fixture};
use serde_json::{Value, json};

const SSL: &str = "examples/reviews/tke-ingress-ssl.json";
const MIX_BETA: &str = "examples/reviews/tke-ingress-ssl-rule-mix-v1beta1.json";
const SEED_REVIEWS: [&str; 3] = ["examples/reviews/tke-ingress-demo.json", SSL, MIX_BETA];
const RULE_MIX: &str = "kubernetes.io/ingress.rule-mix";

fn annotate(review: &mut Value, key: &str, value: &str) {
    review["request"]["object"]["metadata"]["annotations"][key] = json!(value);
}

/// The decoded JSON patch of an answer, or `None` when it has none. Checks `patchType`.
fn patch_of(response: &Value) -> Option<json_patch::Patch> {
    let Some(patch) = response.get("patch") else {
        assert!(response.get("patchType").is_none(), "{response}");
        return None;
    };
    assert_eq!(response["patchType"], "JSONPatch", "{response}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(patch.as_str().expect("patch is a string"))
        .expect("patch is base64");
    Some(serde_json::from_slice(&bytes).expect("patch is a JSON patch"))
}

/// The request's object with `patch` applied, as the API server would.
fn apply(review: &Value, patch: &json_patch::Patch) -> Value {
    let mut object = review["request"]["object"].clone();
    json_patch::patch(&mut object, &patch.0).expect("the patch applies to the object as sent");
    object
}

fn warnings(response: &Value) -> Vec<String> {
    response["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect()
}

/// Sends `review` to /mutate, expects an allowed answer with a patch, and returns the patched
/// object, the patch as JSON, and the warnings. Also sends the patched object back: it must need
/// no further patch.
async fn mutate_expecting_patch(
    server: &TestServer,
    review: &Value,
) -> (Value, Value, Vec<String>) {
    let response = assert_allowed(&server.review("/mutate", review).await, review);
    let patch = patch_of(&response).unwrap_or_else(|| panic!("no patch: {response}"));
    let object = apply(review, &patch);
    let again = edited(review, |r| r["request"]["object"] = object.clone());
    let response_again = assert_allowed(&server.review("/mutate", &again).await, &again);
    assert!(
        patch_of(&response_again).is_none(),
        "not idempotent: {response_again}"
    );
    (
        object,
        serde_json::to_value(&patch).unwrap(),
        warnings(&response),
    )
}

#[tokio::test]
async fn a_title_case_boolean_is_patched_to_true_with_a_warning() {
    let server = TestServer::start().await;
    let review = edited(&fixture(SSL), |r| annotate(r, RULE_MIX, "True"));
    let (object, patch, warnings) = mutate_expecting_patch(&server, &review).await;
    assert_eq!(object["metadata"]["annotations"][RULE_MIX], "true");
    assert_eq!(
        patch,
        json!([{"op": "replace", "path": "/metadata/annotations/kubernetes.io~1ingress.rule-mix",
                "value": "true"}])
    );
    // Nothing else in the object changed.
    let expected = edited(&review, |r| annotate(r, RULE_MIX, "true"));
    assert_eq!(object, expected["request"]["object"]);
    assert!(
        warnings.contains(
            &r#"patched metadata.annotations[kubernetes.io/ingress.rule-mix]: "True" -> "true""#
                .to_owned()
        ),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn validate_never_patches() {
    let server = TestServer::start().await;
    let review = edited(&fixture(SSL), |r| {
        annotate(r, RULE_MIX, " TRUE ");
        annotate(r, "qcloud_cert_id", "TKPmsWb3\n");
    });
    let reply = server.review("/validate", &review).await;
    let response = reply.json()["response"].clone();
    assert!(response.get("patch").is_none(), "{response}");
    assert!(response.get("patchType").is_none(), "{response}");
    assert!(
        !warnings(&response)
            .iter()
            .any(|w| w.starts_with("patched ")),
        "{response}"
    );
}

#[tokio::test]
async fn validate_denies_what_mutate_fixes() {
    let server = TestServer::start().await;
    let review = edited(&fixture(SSL), |r| annotate(r, RULE_MIX, "True"));
    let message = assert_denied(&server.review("/validate", &review).await, &review);
    assert!(message.contains("E4044"), "{message}");
    assert!(message.contains(RULE_MIX), "{message}");
    // /mutate judges the patched object, so the same review is allowed there.
    assert_allowed(&server.review("/mutate", &review).await, &review);
}

#[tokio::test]
async fn mutate_never_denies_the_validating_webhook_judges_the_patched_object() {
    let server = TestServer::start().await;
    let review = edited(&fixture(SSL), |r| {
        annotate(r, RULE_MIX, "True");
        r["request"]["object"]["spec"]["rules"][0]["host"] = json!("localhost");
    });
    // /mutate patches what it can and allows: a mutating webhook fails open, and a deny from it
    // would name the mutating webhook before the others have run.
    let mutated = assert_allowed(&server.review("/mutate", &review).await, &review);
    let patch = patch_of(&mutated).expect("the patch, whatever the verdict");
    let changes = warnings(&mutated);
    assert!(
        changes.iter().all(|w| w.starts_with("patched ")),
        "{changes:?}"
    );
    // The validating webhook sees the patched object: only the host is left to deny.
    let mut patched = review.clone();
    patched["request"]["object"] = apply(&review, &patch);
    let message = assert_denied(&server.review("/validate", &patched).await, &patched);
    assert!(
        message.contains("E4052") && !message.contains("E4044"),
        "{message}"
    );
}

#[tokio::test]
async fn v1beta1_objects_are_patched_at_their_own_paths() {
    let server = TestServer::start().await;
    let review = edited(&fixture(MIX_BETA), |r| {
        annotate(r, RULE_MIX, "TRUE");
        annotate(
            r,
            "kubernetes.io/ingress.http-rules",
            r#"[{"host":"www.happylauliu.cn","path":"/","backend":{"serviceName":"tke-ingress-ssl-demo","servicePort":80}}]"#,
        );
    });
    let (object, patch, warnings) = mutate_expecting_patch(&server, &review).await;
    assert_eq!(
        patch,
        json!([
            {"op": "replace", "path": "/metadata/annotations/kubernetes.io~1ingress.http-rules",
             "value": r#"[{"host":"www.happylauliu.cn","path":"/","backend":{"serviceName":"tke-ingress-ssl-demo","servicePort":"80"}}]"#},
            {"op": "replace", "path": "/metadata/annotations/kubernetes.io~1ingress.rule-mix",
             "value": "true"},
        ])
    );
    // The object stays v1beta1: no pathType, backends still serviceName/servicePort.
    assert_eq!(object["apiVersion"], "networking.k8s.io/v1beta1");
    let first_path = &object["spec"]["rules"][0]["http"]["paths"][0];
    assert!(first_path.get("pathType").is_none(), "{first_path}");
    assert_eq!(first_path["backend"]["servicePort"], 80);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(r#"http-rules][0].backend.servicePort: 80 -> "80""#)),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn a_v1_path_without_path_type_gets_implementation_specific() {
    let server = TestServer::start().await;
    let review = edited(&fixture(SSL), |r| {
        r["request"]["object"]["spec"]["rules"][0]["http"]["paths"][0]
            .as_object_mut()
            .unwrap()
            .remove("pathType");
    });
    let (object, patch, _) = mutate_expecting_patch(&server, &review).await;
    assert_eq!(
        patch,
        json!([{"op": "add", "path": "/spec/rules/0/http/paths/0/pathType",
                "value": "ImplementationSpecific"}])
    );
    assert_eq!(
        object["spec"]["rules"][0]["http"]["paths"][0]["pathType"],
        "ImplementationSpecific"
    );
}

#[tokio::test]
async fn no_patch_for_other_classes_deletes_or_canonical_objects() {
    let server = TestServer::start().await;
    let fixable = edited(&fixture(SSL), |r| annotate(r, RULE_MIX, "True"));
    let nginx = edited(&fixable, |r| {
        annotate(r, "kubernetes.io/ingress.class", "nginx");
    });
    let delete = edited(&fixable, |r| {
        r["request"]["operation"] = json!("DELETE");
        r["request"]["oldObject"] = r["request"]["object"].take();
    });
    let delete_with_object = edited(&fixable, |r| r["request"]["operation"] = json!("DELETE"));
    let mut cases = vec![nginx, delete, delete_with_object];
    cases.extend(SEED_REVIEWS.iter().map(|p| fixture(p)));
    for case in cases {
        let response = assert_allowed(&server.review("/mutate", &case).await, &case);
        assert!(patch_of(&response).is_none(), "{response}");
    }
}

/// Answers `review` on /mutate in-process with the given settings file.
async fn mutate_with_settings(settings_yaml: &str, review: &Value) -> Value {
    use qcloud_ingress_webhook::http::review::{self, Endpoint};
    use qcloud_ingress_webhook::http::{AppState, Limits};
    use qcloud_ingress_webhook::rules::{Engine, Settings};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let settings = Settings::from_yaml_str(settings_yaml).unwrap();
    let state = AppState::new(
        Arc::new(Engine::new(settings).unwrap()),
        common::seed_cluster(),
        Limits::default(),
    );
    let body = serde_json::to_vec(review).unwrap();
    let bytes = review::answer(
        &state,
        Endpoint::Mutate,
        &body,
        Instant::now(),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["response"].clone()
}

#[tokio::test]
async fn warn_mode_allows_and_still_patches() {
    let review = edited(&fixture(SSL), |r| {
        annotate(r, RULE_MIX, "True");
        r["request"]["object"]["spec"]["rules"][0]["host"] = json!("localhost");
    });
    let response = mutate_with_settings("enforcement: warn\n", &review).await;
    assert_eq!(response["allowed"], true, "{response}");
    let patch = patch_of(&response).expect("a patch in warn mode");
    assert_eq!(
        apply(&review, &patch)["metadata"]["annotations"][RULE_MIX],
        "true"
    );
    let warnings = warnings(&response);
    assert!(
        warnings.iter().all(|w| w.starts_with("patched ")),
        "/mutate reports its changes only: {warnings:?}"
    );
}

#[tokio::test]
async fn exempt_requesters_get_no_patch() {
    let review = edited(&fixture(SSL), |r| annotate(r, RULE_MIX, "True"));
    let response =
        mutate_with_settings("exempt:\n  usernames: [kubernetes-admin]\n", &review).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert!(patch_of(&response).is_none(), "{response}");
    // The same review from a user who is not exempt is patched.
    let response = mutate_with_settings("", &review).await;
    assert!(patch_of(&response).is_some(), "{response}");
}
