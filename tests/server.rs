//! The real server over TLS on a loopback port: the AdmissionReview contract end to end.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;

use common::{TestServer, assert_allowed, assert_answer, assert_denied, edited, fixture};
use qcloud_ingress_webhook::http::Limits;
use serde_json::{Value, json};

const SEED_REVIEWS: [&str; 3] = [
    "examples/reviews/tke-ingress-demo.json",
    "examples/reviews/tke-ingress-ssl.json",
    "examples/reviews/tke-ingress-ssl-rule-mix-v1beta1.json",
];

#[tokio::test]
async fn seed_blog_ingresses_are_allowed_on_both_endpoints() {
    let server = TestServer::start().await;
    for path in SEED_REVIEWS {
        let review = fixture(path);
        for endpoint in ["/validate", "/mutate"] {
            let reply = server.review(endpoint, &review).await;
            let response = assert_allowed(&reply, &review);
            // Allowed; advice (e.g. about read-only annotations) may come as warnings.
            for warning in response["warnings"].as_array().into_iter().flatten() {
                let w = warning.as_str().unwrap();
                assert!(w.chars().count() <= 120 && !w.contains('\n'), "{w}");
            }
            if endpoint == "/validate" {
                assert!(response.get("patch").is_none(), "{path}: {response}");
                assert!(response.get("patchType").is_none(), "{path}: {response}");
            }
        }
    }
}

#[tokio::test]
async fn v1beta1_reviews_are_answered_as_v1beta1() {
    let server = TestServer::start().await;
    let review = fixture("examples/reviews/tke-ingress-ssl.json");
    let beta = edited(&review, |r| {
        r["apiVersion"] = json!("admission.k8s.io/v1beta1");
    });
    let body = server.review("/validate", &beta).await.json();
    assert_eq!(body["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(body["kind"], "AdmissionReview");
    assert_eq!(body["response"]["uid"], review["request"]["uid"]);
}

#[tokio::test]
async fn delete_other_kinds_and_other_classes_are_allowed_at_once() {
    let server = TestServer::start().await;
    let review = fixture("examples/reviews/tke-ingress-ssl.json");
    // Broken enough that a reviewed Ingress could never be allowed.
    let broken = |r: &mut Value| {
        r["request"]["object"]["spec"] = json!({"rules": "not a list"});
    };
    let delete = edited(&review, |r| {
        r["request"]["operation"] = json!("DELETE");
        r["request"]["oldObject"] = r["request"]["object"].take();
    });
    let connect = edited(&review, |r| {
        broken(r);
        r["request"]["operation"] = json!("CONNECT");
    });
    let pod = edited(&review, |r| {
        broken(r);
        r["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "Pod"});
    });
    let nginx = edited(&review, |r| {
        r["request"]["object"]["metadata"]["annotations"]["kubernetes.io/ingress.class"] =
            json!("nginx");
        r["request"]["object"]["metadata"]["annotations"]["kubernetes.io/ingress.http-rules"] =
            json!("{not json");
    });
    for case in [delete, connect, pod, nginx] {
        for endpoint in ["/validate", "/mutate"] {
            let reply = server.review(endpoint, &case).await;
            let response = assert_allowed(&reply, &case);
            assert!(response.get("patch").is_none(), "{response}");
        }
    }
}

#[tokio::test]
async fn an_object_that_is_not_an_ingress_is_denied_with_the_uid() {
    let server = TestServer::start().await;
    let review = fixture("examples/reviews/tke-ingress-ssl.json");
    let bad = edited(&review, |r| {
        r["request"]["object"]["spec"] = json!({"rules": "not a list"});
    });
    let message = assert_denied(&server.review("/validate", &bad).await, &bad);
    assert!(message.contains("not a valid Ingress"), "{message}");
    assert!(!message.contains('\n'));

    let missing = edited(&review, |r| r["request"]["object"] = Value::Null);
    let message = assert_denied(&server.review("/validate", &missing).await, &missing);
    assert!(message.contains("request.object"), "{message}");

    // A readable uid with a malformed request still gets a proper deny.
    let odd = edited(&review, |r| r["request"]["operation"] = json!("EXPLODE"));
    let message = assert_denied(&server.review("/mutate", &odd).await, &odd);
    assert!(message.contains("malformed"), "{message}");
}

#[tokio::test]
async fn unreadable_bodies_get_400_with_one_line() {
    let server = TestServer::start().await;
    let review = fixture("examples/reviews/tke-ingress-ssl.json");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "not an AdmissionReview JSON"),
        (b"".to_vec(), "not an AdmissionReview JSON"),
        (b"[1,2,3]".to_vec(), "not an AdmissionReview JSON"),
        (
            serde_json::to_vec(&edited(&review, |r| r["request"] = Value::Null)).unwrap(),
            "no request",
        ),
        (
            serde_json::to_vec(&edited(&review, |r| {
                r["apiVersion"] = json!("admission.k8s.io/v2");
            }))
            .unwrap(),
            "unsupported AdmissionReview apiVersion",
        ),
        (
            serde_json::to_vec(&edited(&review, |r| r["kind"] = json!("ConversionReview")))
                .unwrap(),
            "is not AdmissionReview",
        ),
        (
            serde_json::to_vec(&edited(&review, |r| {
                r["request"]["uid"] = json!(42);
            }))
            .unwrap(),
            "no uid",
        ),
    ];
    for (body, expected) in cases {
        for endpoint in ["/validate", "/mutate"] {
            let reply = server.post(endpoint, body.clone()).await;
            assert_eq!(reply.status, 400, "{expected}: {}", reply.text);
            assert!(reply.text.contains(expected), "{expected}: {}", reply.text);
            assert!(!reply.text.trim_end().contains('\n'), "{}", reply.text);
        }
    }
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let server = TestServer::start_with(common::Options {
        limits: Limits {
            max_body_bytes: 64 * 1024,
            ..Limits::default()
        },
        ..common::Options::default()
    })
    .await;
    let review = fixture("examples/reviews/tke-ingress-ssl.json");
    let big = edited(&review, |r| {
        r["request"]["object"]["metadata"]["annotations"]["padding"] = json!("x".repeat(100_000));
    });
    let reply = server.review("/validate", &big).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert!(
        reply.text.contains("larger than 65536 bytes"),
        "{}",
        reply.text
    );
    // Just under the limit is fine.
    let fits = edited(&review, |r| {
        r["request"]["object"]["metadata"]["annotations"]["padding"] = json!("x".repeat(50_000));
    });
    assert_allowed(&server.review("/validate", &fits).await, &fits);
}

#[tokio::test]
async fn wrong_methods_and_paths() {
    let server = TestServer::start().await;
    let get = server
        .client
        .get(server.url("/validate"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let reply = server.post("/nope", "{}").await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn admin_endpoints_report_health_readiness_and_metrics() {
    let server = TestServer::start().await;
    assert_eq!(server.admin_get("/healthz").await.0, 200);
    let (status, body) = server.admin_get("/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready"));

    let review = fixture("examples/reviews/tke-ingress-demo.json");
    assert_answer(&server.review("/validate", &review).await, &review);
    server.post("/validate", "nope").await;

    let (status, text) = server.admin_get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        text.contains(
            r#"qcloud_ingress_webhook_reviews_total{endpoint="validate",operation="CREATE",decision="allowed"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"qcloud_ingress_webhook_rejected_requests_total{endpoint="validate",reason="bad_request"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"qcloud_ingress_webhook_review_duration_seconds_count{endpoint="validate"} 1"#
        ),
        "{text}"
    );
    // Bounded labels: nothing from the object ends up in metrics.
    assert!(!text.contains("tke-ingress-demo"), "{text}");
    assert!(!text.contains("happylau"), "{text}");
    assert!(server.admin_get("/nope").await.0 == 404);
}

#[tokio::test]
async fn a_finding_the_ingress_skips_is_allowed_silently_audited_and_counted() {
    let server = TestServer::start().await;
    let review = fixture("tests/fixtures/skip-legacy-host.json");
    let response = assert_allowed(&server.review("/validate", &review).await, &review);
    assert!(response.get("warnings").is_none(), "{response}");
    assert_eq!(
        response["auditAnnotations"],
        json!({"skipped": "host-grammar: legacy intranet host, see OPS-12"}),
        "no key with a slash: the API server prefixes <webhook name>/"
    );
    // /mutate runs no rule: allowed, nothing to record.
    let mutated = assert_allowed(&server.review("/mutate", &review).await, &review);
    assert!(mutated.get("auditAnnotations").is_none(), "{mutated}");
    // Without the annotation the same Ingress is denied: the skip is what allowed it.
    let unskipped = edited(&review, |r| {
        let annotations = r["request"]["object"]["metadata"]["annotations"].as_object_mut();
        annotations
            .unwrap()
            .remove("qcloud-ingress-webhook.io/skip");
    });
    assert!(
        assert_denied(&server.review("/validate", &unskipped).await, &unskipped)
            .contains("[host-grammar]")
    );
    // An annotation without a reason skips nothing and says so.
    let no_reason = edited(&review, |r| {
        r["request"]["object"]["metadata"]["annotations"]["qcloud-ingress-webhook.io/skip"] =
            json!("host-grammar");
    });
    let reply = server.review("/validate", &no_reason).await;
    assert_denied(&reply, &no_reason);
    let response = reply.json()["response"].clone();
    assert_eq!(
        response["auditAnnotations"],
        json!({"rules": "host-grammar,skip-annotation"})
    );
    assert!(
        response["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("qcloud-ingress-webhook.io/skip: "),
        "{response}"
    );

    let (_, text) = server.admin_get("/metrics").await;
    assert!(
        text.contains(r#"qcloud_ingress_webhook_findings_skipped_total{rule="host-grammar"} 1"#),
        "{text}"
    );
    // The skipped review counts no finding; the two denied ones do.
    assert!(
        text.contains(
            r#"qcloud_ingress_webhook_findings_total{rule="host-grammar",severity="deny"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"qcloud_ingress_webhook_reviews_total{endpoint="validate",operation="CREATE",decision="allowed"} 1"#
        ),
        "{text}"
    );
    assert!(
        !text.contains("OPS-12") && !text.contains("legacy-host"),
        "{text}"
    );
}

#[tokio::test]
async fn many_reviews_in_a_row_each_echo_their_uid() {
    let server = TestServer::start().await;
    let review = fixture("examples/reviews/tke-ingress-demo.json");
    for i in 0..20 {
        let r = edited(&review, |r| r["request"]["uid"] = json!(format!("uid-{i}")));
        assert_allowed(&server.review("/validate", &r).await, &r);
    }
}
