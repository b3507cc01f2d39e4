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
use qcloud_ingress_webhook::cluster::{LookupFuture, LookupRequest};
use qcloud_ingress_webhook::http::{AppState, Limits, Server, ServerConfig};
use qcloud_ingress_webhook::rules::{Engine, Settings};
use serde_json::Value;

/// A cluster view whose look-ups take `delay` (ignoring the deadline, like a stuck API server),
/// and that reports `ready`.
pub struct SlowCluster {
    pub delay: Duration,
    pub ready: bool,
}

impl ClusterView for SlowCluster {
    fn is_ready(&self) -> bool {
        self.ready
    }

    /// Answers from the seed cluster state, after the delay.
    fn lookup(&self, request: LookupRequest) -> LookupFuture {
        let delay = self.delay;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            seed_cluster().lookup(request).await
        })
    }
}

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
    /// Defaults to [`seed_cluster`].
    pub cluster: Option<Arc<dyn ClusterView>>,
    /// Certificate and key paths to serve (with the set they hold); defaults to a fresh set.
    pub tls_files: Option<(PathBuf, PathBuf, DevCerts)>,
    /// A background audit to serve on `/audit` and `/metrics`.
    pub audit: Option<Arc<qcloud_ingress_webhook::audit::live::Auditor>>,
    /// A self-managed certificate authority's state, for `/readyz` and `/metrics`.
    pub authority: Option<Arc<qcloud_ingress_webhook::http::authority::AuthorityStatus>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            tweak: |_| {},
            cluster: None,
            tls_files: None,
            audit: None,
            authority: None,
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
        let dir = tempfile::tempdir().unwrap();
        let (cert_path, key_path, certs) = options.tls_files.clone().unwrap_or_else(|| {
            let certs = test_certs();
            let cert_path = dir.path().join("tls.crt");
            let key_path = dir.path().join("tls.key");
            std::fs::write(&cert_path, &certs.cert_pem).unwrap();
            std::fs::write(&key_path, &certs.key_pem).unwrap();
            (cert_path, key_path, certs)
        });
        let mut config = ServerConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
            cert_path,
            key_path,
        );
        (options.tweak)(&mut config);
        let engine = Arc::new(Engine::new(Settings::default()).unwrap());
        let cluster = options.cluster.clone().unwrap_or_else(seed_cluster);
        let mut state =
            AppState::new(engine, cluster, options.limits).with_audit(options.audit.clone());
        if let Some(authority) = options.authority.clone() {
            state = state.with_authority(authority);
        }
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

/// A fresh CA and serving pair for the webhook's Service name, `localhost` and 127.0.0.1.
pub fn test_certs() -> DevCerts {
    certs::generate("qcloud-ingress-webhook", "qcloud-ingress-webhook").unwrap()
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

/// A raw TLS connection to the server, for what reqwest hides: ALPN, protocol version, the
/// served certificate, several requests on one connection.
pub struct RawConn {
    pub stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

/// Connects with a client trusting `ca_pem`, offering `versions` and ALPN `h2`, `http/1.1`.
pub async fn raw_connect(
    addr: SocketAddr,
    ca_pem: &str,
    server_name: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<RawConn, std::io::Error> {
    use rustls_pki_types::pem::PemObject;
    install_provider();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_protocol_versions(versions)
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from(server_name.to_owned()).unwrap();
    let stream = connector.connect(name, tcp).await?;
    Ok(RawConn { stream })
}

impl RawConn {
    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
    }

    pub fn version(&self) -> Option<rustls::ProtocolVersion> {
        self.stream.get_ref().1.protocol_version()
    }

    /// The leaf certificate the server presented.
    pub fn peer_leaf(&self) -> Vec<u8> {
        self.stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    }

    /// Sends one HTTP/1.1 POST and reads the answer (status line, body).
    pub async fn post(&mut self, path: &str, body: &[u8]) -> std::io::Result<(String, Vec<u8>)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {SERVICE_HOST}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.stream.write_all(head.as_bytes()).await?;
        self.stream.write_all(body).await?;
        self.stream.flush().await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let header_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < header_end + length {
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let status = head.lines().next().unwrap_or_default().to_owned();
        Ok((status, buf[header_end..header_end + length].to_vec()))
    }
}

/// A certificate directory laid out the way the kubelet mounts a Secret: `tls.crt` and
/// `tls.key` are symlinks through `..data`, which points at a timestamped directory.
pub struct KubeletDir {
    root: PathBuf,
    generation: usize,
}

impl KubeletDir {
    pub fn new(root: &Path, certs: &DevCerts) -> Self {
        let mut dir = Self {
            root: root.to_owned(),
            generation: 0,
        };
        dir.publish(certs.cert_pem.as_bytes(), certs.key_pem.as_bytes());
        for file in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{file}"), root.join(file)).unwrap();
        }
        dir
    }

    /// Writes a new timestamped directory and swaps `..data` to it atomically (rename).
    pub fn publish(&mut self, cert: &[u8], key: &[u8]) {
        self.generation += 1;
        let name = format!(
            "..2026_11_24_20_00_0{}.{}",
            self.generation,
            1000 + self.generation
        );
        let dir = self.root.join(&name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("tls.crt"), cert).unwrap();
        std::fs::write(dir.join("tls.key"), key).unwrap();
        let tmp = self.root.join("..data_tmp");
        std::os::unix::fs::symlink(&name, &tmp).unwrap();
        std::fs::rename(&tmp, self.root.join("..data")).unwrap();
    }

    pub fn cert(&self) -> PathBuf {
        self.root.join("tls.crt")
    }

    pub fn key(&self) -> PathBuf {
        self.root.join("tls.key")
    }
}

/// A loopback port free at the time of asking, for a child process to bind.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed on drop, so a failed assertion leaves no server behind.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a run of the real binary left: its exit status and its output.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the real binary with `args` in `dir`, `stdin` on its standard input.
pub fn run_binary(args: &[&str], dir: &Path, stdin: &str) -> Run {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_qcloud-ingress-webhook"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().expect("exited"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Runs the real binary's `SUBCOMMAND --output json ARGS -` with `stdin`, off the test's runtime:
/// its exit status and its JSON output.
pub async fn command_json(
    subcommand: &'static str,
    args: Vec<String>,
    stdin: String,
) -> (i32, Value) {
    tokio::task::spawn_blocking(move || {
        let mut all = vec![subcommand, "--output", "json"];
        all.extend(args.iter().map(String::as_str));
        all.push("-");
        let run = run_binary(&all, Path::new(env!("CARGO_MANIFEST_DIR")), &stdin);
        let value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr));
        (run.code, value)
    })
    .await
    .unwrap()
}

/// `command` (the binary, or a wrapper that runs it) with `serve` on loopback `port` and
/// `admin_port` and a fresh test certificate written into `dir`: the arguments every test that
/// runs the binary's server gives it.
pub fn serve_command(
    mut command: std::process::Command,
    dir: &std::path::Path,
    port: u16,
    admin_port: u16,
) -> (std::process::Command, DevCerts) {
    let certs = test_certs();
    std::fs::write(dir.join("tls.crt"), &certs.cert_pem).unwrap();
    std::fs::write(dir.join("tls.key"), &certs.key_pem).unwrap();
    command
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin_port}")])
        .arg("--tls-cert")
        .arg(dir.join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.join("tls.key"))
        .env_remove("KUBECONFIG");
    (command, certs)
}

/// The real binary's `serve` in live mode on the cluster of `kubeconfig`, with `args`.
pub struct LiveBinary {
    pub child: KillOnDrop,
    pub port: u16,
    pub admin_port: u16,
    pub certs: DevCerts,
}

impl LiveBinary {
    /// Starts it (certificates written into `dir`) and waits until `/readyz` answers 200.
    pub async fn start(kubeconfig: &std::path::Path, dir: &std::path::Path, args: &[&str]) -> Self {
        let binary = Self::spawn(kubeconfig, dir, args);
        binary.wait_ready(Duration::from_secs(30)).await;
        binary
    }

    /// Starts it without waiting for readiness.
    pub fn spawn(kubeconfig: &std::path::Path, dir: &std::path::Path, args: &[&str]) -> Self {
        let (port, admin_port) = (free_port(), free_port());
        let (mut command, certs) = serve_command(
            std::process::Command::new(env!("CARGO_BIN_EXE_qcloud-ingress-webhook")),
            dir,
            port,
            admin_port,
        );
        let child = KillOnDrop(
            command
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args(args)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        Self {
            child,
            port,
            admin_port,
            certs,
        }
    }

    /// `/readyz`: its status code and body, or `None` while the admin port does not answer.
    pub async fn readyz(&self) -> Option<(u16, String)> {
        let ready = format!("http://127.0.0.1:{}/readyz", self.admin_port);
        let response = reqwest::get(&ready).await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.unwrap_or_default()))
    }

    /// Waits until `/readyz` answers 200; panics after `limit`.
    pub async fn wait_ready(&self, limit: Duration) {
        let give_up = std::time::Instant::now() + limit;
        loop {
            if self.readyz().await.is_some_and(|(status, _)| status == 200) {
                return;
            }
            assert!(
                std::time::Instant::now() < give_up,
                "the binary did not get ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
