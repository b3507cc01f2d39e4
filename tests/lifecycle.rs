//! Readiness, deadlines, graceful shutdown and logs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Options, SlowCluster, TestServer, assert_allowed, fixture};
use qcloud_ingress_webhook::http::Limits;

fn slow(delay: Duration, ready: bool) -> Arc<dyn qcloud_ingress_webhook::cluster::ClusterView> {
    Arc::new(SlowCluster { delay, ready })
}

#[tokio::test]
async fn readyz_waits_for_the_cluster_view() {
    let server = TestServer::start_with(Options {
        cluster: Some(slow(Duration::ZERO, false)),
        ..Options::default()
    })
    .await;
    let (status, body) = server.admin_get("/readyz").await;
    assert_eq!(
        (status, body.as_str()),
        (503, "cluster view not synced yet")
    );
    assert_eq!(server.admin_get("/healthz").await.0, 200);
}

#[tokio::test]
async fn the_api_servers_timeout_is_honoured_with_a_proper_answer() {
    let server = TestServer::start_with(Options {
        cluster: Some(slow(Duration::from_secs(60), true)),
        ..Options::default()
    })
    .await;
    let review = fixture("examples/reviews/tke-ingress-ssl.json");
    let started = Instant::now();
    let response = server
        .client
        .post(server.url("/validate?timeout=4s"))
        .json(&review)
        .send()
        .await
        .unwrap();
    let reply = common::Reply::read(response).await;
    let elapsed = started.elapsed();
    let answer = assert_allowed(&reply, &review);
    // Deadline: 4s minus a 1s margin; the API server would give up at 4s.
    assert!(
        elapsed < Duration::from_secs(4),
        "answered after the API server gave up: {elapsed:?}"
    );
    assert!(elapsed >= Duration::from_millis(2900), "{elapsed:?}");
    let warning = answer["warnings"][0].as_str().unwrap();
    assert!(warning.contains("timed out"), "{warning}");
    assert!(warning.len() <= 120);
}

#[tokio::test]
async fn without_a_timeout_query_the_request_timeout_bounds_the_review() {
    let server = TestServer::start_with(Options {
        cluster: Some(slow(Duration::from_secs(60), true)),
        limits: Limits {
            request_timeout: Duration::from_secs(2),
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let review = fixture("examples/reviews/tke-ingress-ssl.json");
    let started = Instant::now();
    let reply = server.review("/validate", &review).await;
    let answer = assert_allowed(&reply, &review);
    assert!(
        answer["warnings"][0]
            .as_str()
            .unwrap()
            .contains("timed out")
    );
    // /mutate looks nothing up, so a slow cluster view never slows it.
    let quick = Instant::now();
    assert_allowed(&server.review("/mutate", &review).await, &review);
    assert!(
        quick.elapsed() < Duration::from_secs(1),
        "{:?}",
        quick.elapsed()
    );
    // Inside the request timeout (2s, minus a 0.5s margin), with a proper answer.
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn shutdown_turns_readyz_503_and_drains_in_flight_reviews() {
    let mut server = TestServer::start_with(Options {
        cluster: Some(slow(Duration::from_millis(800), true)),
        tweak: |c| {
            c.shutdown_delay = Duration::from_secs(1);
            c.shutdown_grace = Duration::from_secs(5);
        },
        ..Options::default()
    })
    .await;
    let review = fixture("examples/reviews/tke-ingress-demo.json");
    let in_flight = {
        let client = server.client.clone();
        let url = server.url("/validate");
        let review = review.clone();
        tokio::spawn(async move {
            let response = client.post(url).json(&review).send().await.unwrap();
            common::Reply::read(response).await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let task = server.signal_shutdown().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, body) = server.admin_get("/readyz").await;
    assert_eq!((status, body.as_str()), (503, "shutting down"));

    // Within the delay the server still takes new reviews (endpoints are still updating).
    let late = common::client_for(&server.certs, server.addr);
    let late_reply = late
        .post(server.url("/validate"))
        .json(&review)
        .send()
        .await;

    let late_reply = common::Reply::read(late_reply.unwrap()).await;
    assert_allowed(&late_reply, &review);

    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("server stops within the grace period")
        .unwrap();
    // The review in flight at SIGTERM was answered before the server stopped.
    let reply = tokio::time::timeout(Duration::from_millis(500), in_flight)
        .await
        .expect("in-flight review answered by the time the server stopped")
        .unwrap();
    assert_allowed(&reply, &review);
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err());
    assert!(
        tokio::net::TcpStream::connect(server.admin_addr)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_grace_period_bounds_the_drain() {
    let mut server = TestServer::start_with(Options {
        cluster: Some(slow(Duration::from_secs(30), true)),
        tweak: |c| {
            c.shutdown_delay = Duration::ZERO;
            c.shutdown_grace = Duration::from_millis(300);
        },
        ..Options::default()
    })
    .await;
    let review = fixture("examples/reviews/tke-ingress-demo.json");
    let in_flight = {
        let client = server.client.clone();
        let url = server.url("/validate");
        tokio::spawn(async move { client.post(url).json(&review).send().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let task = server.signal_shutdown().unwrap();
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("server stops once the grace period is over")
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    // The stuck review was cut off, not left hanging.
    let outcome = tokio::time::timeout(Duration::from_secs(3), in_flight)
        .await
        .expect("client sees the connection close")
        .unwrap();
    assert!(outcome.is_err(), "{outcome:?}");
}

/// Collects everything the server logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn one_json_log_line_per_review_without_objects_or_secret_data() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(
        qcloud_ingress_webhook::http::logging::subscriber(true, captured.clone()),
    );
    let server = TestServer::start().await;
    // Reads the Secret `no-cert-id`, whose data holds a key.
    let review = fixture("tests/fixtures/mistake-secret-without-cert-id.json");
    common::assert_answer(&server.review("/validate", &review).await, &review);
    let ssl = fixture("examples/reviews/tke-ingress-ssl.json");
    common::assert_answer(&server.review("/validate", &ssl).await, &ssl);
    drop(server);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let reviews: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("every line is JSON"))
        .filter(|l| l["message"] == "review")
        .collect();
    assert_eq!(reviews.len(), 2, "{text}");
    let line = &reviews[0];
    assert_eq!(line["uid"], review["request"]["uid"]);
    assert_eq!(line["operation"], "CREATE");
    assert_eq!(line["namespace"], "default");
    assert_eq!(line["name"], "secret-without-cert-id");
    assert!(line["verdict"].is_string());
    assert!(line.get("rules").is_some());
    assert!(line["latency_ms"].is_u64());
    for secret in [
        "c2VjcmV0LWtleS1tYXRlcmlhbA==",
        "secret-key-material",
        "ZHVtbXk=",
        "TKPmsWb3",
        "happylauliu",
    ] {
        assert!(!text.contains(secret), "log leaks {secret}: {text}");
    }
}
