//! Each core mistake, sent through the real server over TLS, is denied with its E-code and the
//! field path in the version the user wrote.
//!
//! These are the acceptance tests for issue 2's core checks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;

use common::{TestServer, assert_allowed, assert_denied, edited, fixture};
use rstest::rstest;
use serde_json::{Value, json};

const SSL: &str = "examples/reviews/tke-ingress-ssl.json";
const MIX_BETA: &str = "examples/reviews/tke-ingress-ssl-rule-mix-v1beta1.json";

fn annotate(review: &mut Value, key: &str, value: &str) {
    review["request"]["object"]["metadata"]["annotations"][key] = json!(value);
}

fn object(review: &mut Value) -> &mut Value {
    &mut review["request"]["object"]
}

#[rstest]
#[case::clusterip_backend("examples/reviews/mistake-clusterip-backend.json", |_: &mut Value| {},
    "E4047", "spec.rules[0].http.paths[0].backend.service")]
#[case::secret_without_cert_id("tests/fixtures/mistake-secret-without-cert-id.json", |_: &mut Value| {},
    "E4011", "spec.tls[0].secretName")]
#[case::http_rules_schema("tests/fixtures/mistake-bad-http-rules.json", |_: &mut Value| {},
    "E4022", "metadata.annotations[kubernetes.io/ingress.http-rules][0].backend.servicePort")]
#[case::http_rules_not_json(MIX_BETA, |r: &mut Value| annotate(r, "kubernetes.io/ingress.http-rules", "[{\"host\":"),
    "E4022", "metadata.annotations[kubernetes.io/ingress.http-rules]")]
#[case::https_rules_not_json(MIX_BETA, |r: &mut Value| annotate(r, "kubernetes.io/ingress.https-rules", "{oops"),
    "E4023", "metadata.annotations[kubernetes.io/ingress.https-rules]")]
#[case::extensive_parameters_not_object(SSL, |r: &mut Value| annotate(r, "kubernetes.io/ingress.extensiveParameters", "[1]"),
    "E4026", "metadata.annotations[kubernetes.io/ingress.extensiveParameters]")]
#[case::direct_access_not_boolean(SSL, |r: &mut Value| annotate(r, "ingress.cloud.tencent.com/direct-access", "yes"),
    "E4037", "metadata.annotations[ingress.cloud.tencent.com/direct-access]")]
#[case::rule_mix_not_boolean(SSL, |r: &mut Value| annotate(r, "kubernetes.io/ingress.rule-mix", "yes"),
    "E4044", "metadata.annotations[kubernetes.io/ingress.rule-mix]")]
#[case::charge_type(SSL, |r: &mut Value| {
        annotate(r, "kubernetes.io/ingress.internetChargeType", "BY_MONTH");
        annotate(r, "kubernetes.io/ingress.internetMaxBandwidthOut", "10");
    }, "E4045", "metadata.annotations[kubernetes.io/ingress.internetChargeType]")]
#[case::bandwidth(SSL, |r: &mut Value| {
        annotate(r, "kubernetes.io/ingress.internetChargeType", "TRAFFIC_POSTPAID_BY_HOUR");
        annotate(r, "kubernetes.io/ingress.internetMaxBandwidthOut", "lots");
    }, "E4046", "metadata.annotations[kubernetes.io/ingress.internetMaxBandwidthOut]")]
#[case::empty_secret_name(SSL, |r: &mut Value| object(r)["spec"]["tls"][0]["secretName"] = json!(""),
    "E4009", "spec.tls[0].secretName")]
#[case::missing_secret(SSL, |r: &mut Value| object(r)["spec"]["tls"][0]["secretName"] = json!("nope"),
    "E4010", "spec.tls[0].secretName")]
#[case::cert_id_with_newline(SSL, |r: &mut Value| object(r)["spec"]["tls"][0]["secretName"] = json!("cert-id-with-newline"),
    "E4035", "spec.tls[0].secretName")]
#[case::two_hostless_tls_entries(SSL, |r: &mut Value| object(r)["spec"]["tls"] = json!([
        {"secretName": "ingress-ssl-key"}, {"secretName": "other-cert"}]),
    "E4048", "spec.tls[1]")]
#[case::host_in_two_tls_entries(SSL, |r: &mut Value| object(r)["spec"]["tls"] = json!([
        {"hosts": ["www.happylauliu.cn"], "secretName": "ingress-ssl-key"},
        {"hosts": ["www.happylauliu.cn"], "secretName": "other-cert"}]),
    "E4049", "spec.tls[1].hosts[0]")]
#[case::https_host_not_covered(SSL, |r: &mut Value| object(r)["spec"]["tls"][0]["hosts"] = json!(["other.happylauliu.cn"]),
    "E4040", "spec.rules[0].host")]
#[case::missing_service(SSL, |r: &mut Value| object(r)["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = json!("nope"),
    "E4041", "spec.rules[0].http.paths[0].backend.service.name")]
#[case::missing_port(SSL, |r: &mut Value| object(r)["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = json!({"number": 8080}),
    "E4042", "spec.rules[0].http.paths[0].backend.service.port")]
#[case::missing_port_beta(MIX_BETA, |r: &mut Value| object(r)["spec"]["rules"][0]["http"]["paths"][0]["backend"]["servicePort"] = json!(8080),
    "E4042", "spec.rules[0].http.paths[0].backend.servicePort")]
#[case::host_without_dot(SSL, |r: &mut Value| object(r)["spec"]["rules"][0]["host"] = json!("localhost"),
    "E4052", "spec.rules[0].host")]
#[case::bad_path(SSL, |r: &mut Value| object(r)["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("/api/*"),
    "E4031", "spec.rules[0].http.paths[0].path")]
#[case::rule_without_http(SSL, |r: &mut Value| { object(r)["spec"]["rules"][0].as_object_mut().unwrap().remove("http"); },
    "E4013", "spec.rules[0]")]
#[tokio::test]
async fn each_core_mistake_is_denied_with_its_code_and_field(
    #[case] base: &str,
    #[case] edit: fn(&mut Value),
    #[case] code: &str,
    #[case] field: &str,
) {
    let server = TestServer::start().await;
    let review = edited(&fixture(base), edit);
    let reply = server.review("/validate", &review).await;
    let message = assert_denied(&reply, &review);
    assert!(message.contains(code), "{code} missing: {message}");
    assert!(message.contains(field), "{field} missing: {message}");
    assert!(!message.contains('\n'), "{message}");
    assert!(reply.json()["response"].get("patch").is_none());
    // The mutating webhook leaves the verdict to the validating one.
    assert_allowed(&server.review("/mutate", &review).await, &review);
}

#[tokio::test]
async fn a_legacy_cert_id_annotation_that_differs_from_the_secret_is_a_warning() {
    let server = TestServer::start().await;
    let review = edited(&fixture(SSL), |r| annotate(r, "qcloud_cert_id", "Zzz99999"));
    let response = assert_allowed(&server.review("/validate", &review).await, &review);
    let warnings: Vec<&str> = response["warnings"]
        .as_array()
        .expect("warnings present")
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("qcloud_cert_id")),
        "{warnings:?}"
    );
    // The id from the Secret is never echoed beyond what the user wrote.
    assert!(!response.to_string().contains("TKPmsWb3"), "{response}");
}

#[tokio::test]
async fn a_deny_lists_every_finding_in_one_message() {
    let server = TestServer::start().await;
    let review = edited(&fixture(SSL), |r| {
        object(r)["spec"]["rules"][0]["host"] = json!("localhost");
        object(r)["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("/api/*");
    });
    let message = assert_denied(&server.review("/validate", &review).await, &review);
    assert!(
        message.contains("E4052") && message.contains("E4031"),
        "{message}"
    );
}
