//! Shared test support: the crypto provider (installed once; tests never run `main`), a real
//! server over TLS on a loopback port with a test CA, a client that trusts only that CA, and
//! AdmissionReview fixtures.

#![allow(
    dead_code,
    reason = "each test crate uses a different part of this module"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failed set-up is a failed test"
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::Duration;

use qcloud_ingress_webhook::certs::{self, DevCerts};
use qcloud_ingress_webhook::cluster::ClusterView;
use qcloud_ingress_webhook::cluster::offline::OfflineCluster;
use qcloud_ingress_webhook::http::{AppState, Limits, Server, ServerConfig};
use qcloud_ingress_webhook::rules::{Engine, Settings};
use serde_json::Value;

/// The Service DNS name the API server would dial; the test client connects by this name.
pub const SERVICE_HOST: &str = "qcloud-ingress-webhook.qcloud-ingress-webhook.svc";

static PROVIDER: Once = Once::new();

pub fn install_provider() {
    PROVIDER.call_once(|| {
        qcloud_ingress_webhook::http::tls::install_crypto_provider()
            .expect("no other provider installed");
    });
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// An AdmissionReview fixture from `examples/` or `tests/fixtures/`.
pub fn fixture(relative: &str) -> Value {
    let text = std::fs::read_to_string(repo_path(relative)).expect("fixture exists");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// The seed blog's cluster state plus the objects the mistake fixtures refer to.
pub fn seed_cluster() -> Arc<dyn ClusterView> {
    Arc::new(
        OfflineCluster::from_paths(&[
            repo_path("examples/cluster-state"),
            repo_path("tests/fixtures/cluster-state"),
        ])
        .expect("cluster state loads"),
    )
}

/// Options for a test server.
#[derive(Clone)]
pub struct Options {
    pub limits: Limits,
    pub tweak: fn(&mut ServerConfig),
}

impl Default for Options {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            tweak: |_| {},
        }
    }
}

/// A running server and a client for it. Dropping it stops the server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub certs: DevCerts,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        install_provider();
        let certs = certs::generate("qcloud-ingress-webhook", "qcloud-ingress-webhook").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert_path = dir.path().join("tls.crt");
        let key_path = dir.path().join("tls.key");
        std::fs::write(&cert_path, &certs.cert_pem).unwrap();
        std::fs::write(&key_path, &certs.key_pem).unwrap();
        let mut config = ServerConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
            cert_path,
            key_path,
        );
        (options.tweak)(&mut config);
        let engine = Arc::new(Engine::new(Settings::default()).unwrap());
        let state = AppState::new(engine, seed_cluster(), options.limits);
        let server = Server::bind(config, state.clone()).await.unwrap();
        let addr = server.local_addr().unwrap();
        let admin_addr = server.admin_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let client = client_for(&certs, addr);
        Self {
            addr,
            admin_addr,
            certs,
            dir,
            client,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{SERVICE_HOST}:{}{path}", self.addr.port())
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }

    /// POSTs JSON to a webhook path; returns status, HTTP version and body text.
    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> Reply {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request reaches the server");
        Reply::read(response).await
    }

    pub async fn review(&self, path: &str, review: &Value) -> Reply {
        self.post(path, serde_json::to_vec(review).unwrap()).await
    }

    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let response = reqwest::Client::new()
            .get(self.admin_url(path))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Signals shutdown (like SIGTERM) and returns the server task.
    pub fn signal_shutdown(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A reqwest client trusting only the test CA, HTTP/1.1 only, resolving the Service name to
/// the loopback listener.
pub fn client_for(certs: &DevCerts, addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(certs.ca_cert_pem.as_bytes()).unwrap())
        .resolve(SERVICE_HOST, addr)
        .http1_only()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub version: reqwest::Version,
    pub content_type: String,
    pub text: String,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let version = response.version();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.unwrap();
        Self {
            status,
            version,
            content_type,
            text,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

/// Asserts the envelope every answered review must have, and returns `response`.
pub fn assert_answer(reply: &Reply, request: &Value) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.version, reqwest::Version::HTTP_11);
    assert_eq!(reply.content_type, "application/json");
    let body = reply.json();
    assert_eq!(body["apiVersion"], request["apiVersion"], "{body}");
    assert_eq!(body["kind"], "AdmissionReview", "{body}");
    let response = body["response"].clone();
    assert_eq!(response["uid"], request["request"]["uid"], "{body}");
    assert!(response["allowed"].is_boolean(), "{body}");
    response
}

/// Asserts an allowed answer with no status; returns `response`.
pub fn assert_allowed(reply: &Reply, request: &Value) -> Value {
    let response = assert_answer(reply, request);
    assert_eq!(response["allowed"], true, "{response}");
    assert!(response.get("status").is_none(), "{response}");
    response
}

/// Asserts a deny with 400/BadRequest and returns the message.
pub fn assert_denied(reply: &Reply, request: &Value) -> String {
    let response = assert_answer(reply, request);
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 400, "{response}");
    assert_eq!(response["status"]["reason"], "BadRequest", "{response}");
    let message = response["status"]["message"]
        .as_str()
        .expect("deny has a message")
        .to_owned();
    assert!(!message.is_empty());
    message
}

/// A copy of `review` with `edit` applied to it.
pub fn edited(review: &Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut copy = review.clone();
    edit(&mut copy);
    copy
}
