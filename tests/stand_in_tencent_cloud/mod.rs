//! A STAND-IN for two Tencent Cloud API 3.0 actions, for tests: a test double, not Tencent Cloud.
//!
//! No test may reach Tencent Cloud, so the cloud checks' real client is pointed at this HTTPS
//! server on loopback, with its own CA. It answers as the public API reference documents:
//!
//! - every request is `POST /` with the common headers `X-TC-Action`, `X-TC-Version`,
//!   `X-TC-Timestamp`, `X-TC-Region` and a TC3-HMAC-SHA256 `Authorization`
//!   ("Common Params", <https://www.tencentcloud.com/document/api/1007/36573>); the signature is
//!   recomputed here, independently of the client's signer, from the received `Host`,
//!   `Content-Type` and body with the one key this stand-in knows ("Signature v3",
//!   <https://www.tencentcloud.com/document/product/267/37447>). A wrong SecretId is
//!   `AuthFailure.SecretIdNotFound`, a wrong signature `AuthFailure.SignatureFailure`, a timestamp
//!   more than 5 minutes off `AuthFailure.SignatureExpire`, a missing or malformed header
//!   `AuthFailure.InvalidAuthorization`;
//! - every answer is HTTP 200 with `{"Response": {..., "RequestId": ...}}`, errors as
//!   `Response.Error.Code`/`Message` ("Responses", <https://www.tencentcloud.com/document/api/1007/36574>);
//! - `DescribeCertificateDetail` (ssl, 2019-12-05,
//!   <https://www.tencentcloud.com/document/api/1007/36587>): `CertificateId` in, the detail the
//!   test set out, or `FailedOperation.CertificateNotFound` for an unknown id;
//! - `DescribeLoadBalancers` (clb, 2018-03-17, <https://www.tencentcloud.com/document/api/214/33830>):
//!   `LoadBalancerIds` in, `TotalCount` and `LoadBalancerSet` of those the test set out (an
//!   unknown id is simply absent);
//! - anything else: `InvalidAction`.
//!
//! It can be slowed down ([`StandIn::set_delay`]) and counts the requests it got
//! ([`StandIn::requests`]).

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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use ring::{digest, hmac};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

/// The key pair this stand-in accepts.
pub const SECRET_ID: &str = "AKIDstandin0000000000000000000000000";
pub const SECRET_KEY: &str = "stand-in-secret-key-0000000000000";

#[derive(Default)]
struct Tables {
    certificates: HashMap<String, Value>,
    load_balancers: HashMap<String, Value>,
    delay: Duration,
}

#[derive(Default)]
struct Shared {
    tables: Mutex<Tables>,
    requests: AtomicUsize,
    /// Requests whose signature checked out.
    verified: AtomicUsize,
    next_id: AtomicUsize,
}

/// The running stand-in.
pub struct StandIn {
    pub addr: SocketAddr,
    /// PEM of the CA that signed its serving certificate.
    pub ca_pem: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    /// Starts it on a free loopback port (inside a tokio runtime).
    pub async fn start() -> Self {
        let certs = qcloud_ingress_webhook::certs::generate("stand-in", "tencent-cloud").unwrap();
        let chain = CertificateDer::pem_slice_iter(certs.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(certs.key_pem.as_bytes()).unwrap();
        let tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let router = Router::new()
            .route("/", post(answer))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let service = TowerToHyperService::new(router.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            ca_pem: certs.ca_cert_pem,
            shared,
            task,
        }
    }

    /// The base URL to give the client.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.addr.port())
    }

    /// A rustls client config trusting only this stand-in's CA.
    pub fn client_tls(&self) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    /// A certificate as `DescribeCertificateDetail` answers it (`CertificateId` and `RequestId`
    /// are added).
    pub fn set_certificate(&self, id: &str, detail: Value) {
        let mut tables = self.shared.tables.lock().unwrap();
        tables.certificates.insert(id.to_owned(), detail);
    }

    /// A CLB as an item of `LoadBalancerSet` (`LoadBalancerId` is added).
    pub fn set_load_balancer(&self, id: &str, item: Value) {
        let mut tables = self.shared.tables.lock().unwrap();
        tables.load_balancers.insert(id.to_owned(), item);
    }

    /// Every answer waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.tables.lock().unwrap().delay = delay;
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests whose signature was right.
    pub fn verified(&self) -> usize {
        self.shared.verified.load(Ordering::SeqCst)
    }
}

/// A certificate detail as the reference's example shows one.
pub fn certificate(kind: &str, status: i64, end: &str, domains: &[&str]) -> Value {
    json!({
        "OwnerUin": "100000000001", "ProjectId": "0", "From": "upload",
        "CertificateType": kind, "Status": status, "StatusMsg": null,
        "Domain": domains.first().copied().unwrap_or_default(),
        "SubjectAltName": domains,
        "CertBeginTime": "2026-01-01 08:00:00", "CertEndTime": end,
    })
}

/// A CLB as a `LoadBalancerSet` item.
pub fn load_balancer(vpc_id: &str, forward: i64) -> Value {
    json!({"LoadBalancerName": "shop", "LoadBalancerType": "OPEN", "Forward": forward,
           "VpcId": vpc_id, "Status": 1, "Tags": []})
}

async fn answer(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> String {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let delay = shared.tables.lock().unwrap().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let request_id = format!(
        "00000000-0000-0000-0000-{:012}",
        shared.next_id.fetch_add(1, Ordering::SeqCst)
    );
    let mut response = match verify(&headers, &body) {
        Err((code, message)) => error(code, message),
        Ok(action) => {
            shared.verified.fetch_add(1, Ordering::SeqCst);
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let tables = shared.tables.lock().unwrap();
            act(&tables, &action, &body)
        }
    };
    response["RequestId"] = json!(request_id);
    json!({ "Response": response }).to_string()
}

fn error(code: &str, message: &str) -> Value {
    json!({"Error": {"Code": code, "Message": message}})
}

fn act(tables: &Tables, action: &str, body: &Value) -> Value {
    match action {
        "DescribeCertificateDetail" => {
            let id = body["CertificateId"].as_str().unwrap_or_default();
            match tables.certificates.get(id) {
                Some(detail) => {
                    let mut detail = detail.clone();
                    detail["CertificateId"] = json!(id);
                    detail
                }
                None => error("FailedOperation.CertificateNotFound", "证书不存在。"),
            }
        }
        "DescribeLoadBalancers" => {
            let ids = body["LoadBalancerIds"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let set: Vec<Value> = ids
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|id| {
                    let mut item = tables.load_balancers.get(id)?.clone();
                    item["LoadBalancerId"] = json!(id);
                    Some(item)
                })
                .collect();
            json!({"TotalCount": set.len(), "LoadBalancerSet": set})
        }
        _ => error("InvalidAction", "the action does not exist"),
    }
}

/// The action, when the request is signed right with the known key.
fn verify(headers: &HeaderMap, body: &[u8]) -> Result<String, (&'static str, &'static str)> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let invalid = (
        "AuthFailure.InvalidAuthorization",
        "Authorization is invalid",
    );
    let action = header("x-tc-action").ok_or(("MissingParameter", "X-TC-Action"))?;
    let timestamp: u64 = header("x-tc-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or(invalid)?;
    let host = header("host").ok_or(invalid)?;
    let content_type = header("content-type").ok_or(invalid)?;
    let authorization = header("authorization").ok_or(invalid)?;
    let rest = authorization
        .strip_prefix("TC3-HMAC-SHA256 Credential=")
        .ok_or(invalid)?;
    let (credential, rest) = rest.split_once(", SignedHeaders=").ok_or(invalid)?;
    let (signed_headers, signature) = rest.split_once(", Signature=").ok_or(invalid)?;
    let mut scope = credential.splitn(4, '/');
    let (id, date, service, tail) = (
        scope.next().ok_or(invalid)?,
        scope.next().ok_or(invalid)?,
        scope.next().ok_or(invalid)?,
        scope.next().ok_or(invalid)?,
    );
    if id != SECRET_ID {
        return Err(("AuthFailure.SecretIdNotFound", "the SecretId is not found"));
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now.abs_diff(timestamp) > 300 {
        return Err(("AuthFailure.SignatureExpire", "the signature has expired"));
    }
    if tail != "tc3_request" || signed_headers != "content-type;host" {
        return Err(invalid);
    }
    let canonical = format!(
        "POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\n{signed_headers}\n{}",
        hex(digest::digest(&digest::SHA256, body).as_ref())
    );
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mac = |key: &[u8], data: &[u8]| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
            .as_ref()
            .to_vec()
    };
    let k = mac(format!("TC3{SECRET_KEY}").as_bytes(), date.as_bytes());
    let k = mac(&k, service.as_bytes());
    let k = mac(&k, b"tc3_request");
    if hex(&mac(&k, to_sign.as_bytes())) != signature {
        return Err(("AuthFailure.SignatureFailure", "the signature is not valid"));
    }
    Ok(action.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
