//! Hostile load on loopback (issue #16): misbehaving clients must not take the memory or the
//! connection slots the API server needs. Hostile clients connect from 127.0.0.1, the legitimate
//! one (standing in for the API server) from 127.0.0.2; no traffic leaves 127.0.0.0/8.
//!
//! The two acceptance tests run the real binary as a child process, so the peak RSS they read
//! (VmHWM in /proc/<pid>/status) is the server's alone, and check that every review of the
//! legitimate client is answered within 1 s while the attack runs. The slot test holds 2,200
//! sockets in this process: it checks the open-file limit first and says so when it is too low.
//! The other tests run the server in-process with small limits, one defence and its metric each.
//!
//! `HOSTILE_BIN=/path/to/qcloud-ingress-webhook cargo test --test hostile` runs the acceptance
//! tests against another build (an older one fails them: that is how they were checked).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Options, RawConn, SERVICE_HOST, SlowCluster, TestServer, fixture};
use qcloud_ingress_webhook::http::Limits;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const BIN: &str = env!("CARGO_BIN_EXE_qcloud-ingress-webhook");

/// The binary under test: this build's, or `HOSTILE_BIN`.
fn bin() -> String {
    std::env::var("HOSTILE_BIN").unwrap_or_else(|_| BIN.to_owned())
}
const HOSTILE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LEGIT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The issue's liveness bound for the legitimate client.
const ANSWERED_WITHIN: Duration = Duration::from_secs(1);
const MIB: usize = 1024 * 1024;

fn review() -> Value {
    fixture("examples/reviews/tke-ingress-demo.json")
}

// ---- the real binary -----------------------------------------------------------------------

/// The server binary running as a child process; killed on drop.
struct Served {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
    ca: String,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Served {
    async fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        let made = Command::new(bin())
            .args(["dev-certs", "--out"])
            .arg(&certs)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(made.success());
        let addr = SocketAddr::new(HOSTILE, free_port());
        let admin = SocketAddr::new(HOSTILE, free_port());
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new(bin())
            .arg("serve")
            .args([
                "--listen",
                &addr.to_string(),
                "--admin-listen",
                &admin.to_string(),
            ])
            .arg("--tls-cert")
            .arg(certs.join("tls.crt"))
            .arg("--tls-key")
            .arg(certs.join("tls.key"))
            .arg("--cluster-state")
            .arg(common::repo_path("examples/cluster-state"))
            .args(["--log-format", "json"])
            .args(extra)
            .stdout(log)
            .spawn()
            .unwrap();
        let ca = std::fs::read_to_string(certs.join("ca.crt")).unwrap();
        let mut served = Self {
            child,
            addr,
            admin,
            ca,
            dir,
        };
        served.wait_ready().await;
        served
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://{}/readyz", self.admin);
        while !reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
            assert!(Instant::now() < deadline, "server never became ready");
            assert!(self.child.try_wait().unwrap().is_none(), "server exited");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A `/proc/<pid>/status` field in KiB (VmRSS, VmHWM).
    fn status_kib(&self, field: &str) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {status}"))
    }

    async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.admin);
        reqwest::get(url).await.unwrap().text().await.unwrap()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the metric line starting with `prefix`, or 0 when there is none.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ---- clients --------------------------------------------------------------------------------

/// A TCP connection from `ip` (a loopback address) to `addr`.
async fn tcp_from(ip: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

fn tls_connector(ca_pem: &str) -> TlsConnector {
    use rustls_pki_types::pem::PemObject;
    common::install_provider();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// A TLS connection from `ip`, handshake done.
async fn tls_from(
    connector: &TlsConnector,
    ip: IpAddr,
    addr: SocketAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = tcp_from(ip, addr).await?;
    let name = rustls_pki_types::ServerName::try_from(SERVICE_HOST).unwrap();
    connector.connect(name, tcp).await
}

/// The API server's stand-in: HTTP/1.1 from 127.0.0.2, with keep-alive (`reuse`) or a new
/// connection for every review.
fn legit_client(ca_pem: &str, addr: SocketAddr, reuse: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .resolve(SERVICE_HOST, addr)
        .local_address(LEGIT)
        .http1_only()
        .timeout(Duration::from_secs(10));
    if !reuse {
        builder = builder.pool_max_idle_per_host(0);
    }
    builder.build().unwrap()
}

/// What the legitimate client saw.
#[derive(Debug, Default)]
struct Probes {
    answered: usize,
    slowest: Duration,
    failures: Vec<String>,
}

impl Probes {
    fn assert_all_answered_in_time(&self, what: &str) {
        assert!(self.failures.is_empty(), "{what}: {:?}", self.failures);
        assert!(self.answered >= 10, "{what}: only {} probes", self.answered);
        assert!(
            self.slowest < ANSWERED_WITHIN,
            "{what}: slowest legitimate review took {:?}",
            self.slowest
        );
    }
}

/// Sends a review every 100 ms from the legitimate address, alternating a kept-alive connection
/// and a new one, until `stop` turns true. It runs on a thread and runtime of its own, so the
/// hostile clients' work in this process does not delay it.
fn probe(ca_pem: &str, addr: SocketAddr, stop: watch::Receiver<bool>) -> Prober {
    let ca_pem = ca_pem.to_owned();
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(probe_until(&ca_pem, addr, &stop))
    });
    Prober(thread)
}

/// The legitimate client's thread.
struct Prober(std::thread::JoinHandle<Probes>);

impl Prober {
    async fn finish(self) -> Probes {
        tokio::task::spawn_blocking(move || self.0.join().unwrap())
            .await
            .unwrap()
    }
}

async fn probe_until(ca_pem: &str, addr: SocketAddr, stop: &watch::Receiver<bool>) -> Probes {
    let clients = [
        legit_client(ca_pem, addr, true),
        legit_client(ca_pem, addr, false),
    ];
    let url = format!("https://{SERVICE_HOST}:{}/validate?timeout=5s", addr.port());
    let review = review();
    let mut probes = Probes::default();
    while !*stop.borrow() {
        for client in &clients {
            let started = Instant::now();
            match client.post(&url).json(&review).send().await {
                Ok(r) if r.status() == 200 => {
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    if body["response"]["allowed"] == true {
                        probes.answered += 1;
                        probes.slowest = probes.slowest.max(started.elapsed());
                    } else {
                        probes.failures.push(format!("not allowed: {body}"));
                    }
                }
                Ok(r) => probes.failures.push(format!("HTTP {}", r.status())),
                Err(e) => probes.failures.push(format!("{e:?}")),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    probes
}

/// This process's soft limit on open files, from /proc/self/limits.
fn open_file_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(usize::MAX)
}

// ---- acceptance: memory ---------------------------------------------------------------------

/// One hostile client: sends the headers of a `declared`-byte review and `sent` bytes of its
/// body, then waits; connects again when the server closes, until `stop`.
async fn stream_bodies(
    connector: TlsConnector,
    addr: SocketAddr,
    declared: usize,
    sent: usize,
    stop: watch::Receiver<bool>,
) {
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: {SERVICE_HOST}\r\nContent-Type: application/json\r\n\
         Content-Length: {declared}\r\n\r\n"
    );
    let chunk = vec![b' '; 64 * 1024];
    while !*stop.borrow() {
        if let Ok(mut tls) = tls_from(&connector, HOSTILE, addr).await {
            let _ = tls.write_all(head.as_bytes()).await;
            let mut written = 0;
            while written < sent {
                let next = chunk.len().min(sent - written);
                if tls.write_all(&chunk[..next]).await.is_err() {
                    break;
                }
                written += next;
            }
            let _ = tls.flush().await;
            // Hold the connection until the server gives up on it.
            let mut buf = [0u8; 1024];
            let mut stop = stop.clone();
            tokio::select! {
                _ = tls.read(&mut buf) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
        // Try again, as a client retrying its refused requests would.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Runs `clients` hostile body streamers for `duration`.
async fn body_wave(
    served: &Served,
    clients: usize,
    declared: usize,
    sent: usize,
    duration: Duration,
) {
    let connector = tls_connector(&served.ca);
    let (stop, stopped) = watch::channel(false);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            tokio::spawn(stream_bodies(
                connector.clone(),
                served.addr,
                declared,
                sent,
                stopped.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.send_replace(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_within_the_budget_while_150_clients_stream_4_mib_bodies() {
    let served = Served::start(&[]).await;
    let budget = Limits::default().request_memory_budget;
    // Warm up: the baseline includes a few answered reviews.
    let warm = legit_client(&served.ca, served.addr, true);
    let url = format!("https://{SERVICE_HOST}:{}/validate", served.addr.port());
    for _ in 0..5 {
        assert_eq!(
            warm.post(&url)
                .json(&review())
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let baseline_kib = served.status_kib("VmHWM");
    let (stop, stopped) = watch::channel(false);
    let legit = probe(&served.ca, served.addr, stopped);

    // The issue's attack: 4 MiB bodies, most of each sent, then nothing.
    body_wave(
        &served,
        150,
        4 * MIB,
        4 * MIB - 256 * 1024,
        Duration::from_secs(5),
    )
    .await;
    // Bodies whose review fits the budget alone (100 KiB x 100 = 10 MiB): one source gets a
    // share at a time, the rest wait and are refused; the one admitted stalls and is cut off.
    body_wave(&served, 150, 100 * 1024, 90 * 1024, Duration::from_secs(5)).await;

    stop.send_replace(true);
    let probes = legit.finish().await;
    let peak_kib = served.status_kib("VmHWM");
    let text = served.metrics().await;
    println!(
        "baseline VmHWM {baseline_kib} KiB, peak VmHWM {peak_kib} KiB, budget {} KiB; legit: {} answered, slowest {:?}",
        budget / 1024,
        probes.answered,
        probes.slowest
    );
    assert!(
        peak_kib <= baseline_kib + budget / 1024,
        "peak RSS {peak_kib} KiB over baseline {baseline_kib} KiB + budget {} KiB\n{}",
        budget / 1024,
        served.log_tail()
    );
    probes.assert_all_answered_in_time("during the body waves");
    let rejected = "qcloud_ingress_webhook_rejected_requests_total{endpoint=\"validate\",reason=";
    // Most 4 MiB bodies are refused before they are read: a share of the budget per source.
    let refused_for_memory = metric(&text, &format!("{rejected}\"never_fits\""))
        + metric(&text, &format!("{rejected}\"source_memory\""))
        + metric(&text, &format!("{rejected}\"memory_budget\""));
    assert!(refused_for_memory >= 100.0, "{text}");
    assert!(
        metric(&text, &format!("{rejected}\"source_memory\"")) >= 1.0,
        "{text}"
    );
    assert!(
        metric(&text, &format!("{rejected}\"body_too_slow\"")) >= 1.0,
        "{text}"
    );
}

/// The largest review the API server can send (an UPDATE of a ~3 MiB object: object and old
/// object, just under the 6 MiB body limit) is reviewed, not refused, by the binary with the
/// budget the chart renders for its 256 MiB memory limit, and the process stays under that limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_legal_review_is_answered_within_the_charts_memory_limit() {
    const CHART_BUDGET: &str = "--request-memory-budget=85899345";
    let served = Served::start(&[CHART_BUDGET]).await;
    let mut review = review();
    let mut object = review["request"]["object"].clone();
    let paths = object["spec"]["rules"][0]["http"]["paths"].clone();
    let mut more = Vec::new();
    let mut size = 0;
    for i in 0.. {
        let mut path = paths[0].clone();
        path["path"] = json!(format!("/p{i}"));
        size += path.to_string().len() + 1;
        more.push(path);
        // Object and old object, each just under 3 MiB.
        if size > 2 * MIB + 900 * 1024 {
            break;
        }
    }
    object["spec"]["rules"][0]["http"]["paths"] = Value::Array(more);
    review["request"]["operation"] = json!("UPDATE");
    review["request"]["object"] = object.clone();
    review["request"]["oldObject"] = object;
    let body = serde_json::to_vec(&review).unwrap();
    assert!(
        body.len() > 5 * MIB && body.len() < 6 * MIB,
        "{}",
        body.len()
    );

    let client = legit_client(&served.ca, served.addr, true);
    let url = format!("https://{SERVICE_HOST}:{}/validate", served.addr.port());
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        answer["response"]["uid"], review["request"]["uid"],
        "{text}"
    );
    let peak_kib = served.status_kib("VmHWM");
    assert!(peak_kib < 256 * 1024, "peak RSS {peak_kib} KiB");
}

// ---- acceptance: connection slots -----------------------------------------------------------

/// Opens `count` connections from the hostile address, 50 at a time; TLS ones complete the
/// handshake. Returns the ones that are still open (the server evicts some).
async fn open_idle(
    served: &Served,
    count: usize,
    tls: bool,
) -> (Vec<TlsStream<TcpStream>>, Vec<TcpStream>) {
    let connector = tls_connector(&served.ca);
    let (mut tls_conns, mut tcp_conns) = (Vec::new(), Vec::new());
    for _ in 0..count / 50 {
        let batch = (0..50).map(|_| {
            let connector = connector.clone();
            let addr = served.addr;
            async move {
                if tls {
                    tls_from(&connector, HOSTILE, addr).await.map(Ok)
                } else {
                    tcp_from(HOSTILE, addr).await.map(Err)
                }
            }
        });
        for opened in futures::future::join_all(batch).await.into_iter().flatten() {
            match opened {
                Ok(tls) => tls_conns.push(tls),
                Err(tcp) => tcp_conns.push(tcp),
            }
        }
    }
    (tls_conns, tcp_conns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tls_and_handshake_less_connections_from_one_address_leave_room_for_the_api_server() {
    let needed = 2 * 1100 + 200;
    let limit = open_file_limit();
    assert!(
        limit >= needed,
        "this test holds 2,200 sockets: raise the open-file limit (ulimit -n) to at least {needed}, it is {limit}"
    );
    let served = Served::start(&[]).await;
    let (stop, stopped) = watch::channel(false);
    let legit = probe(&served.ca, served.addr, stopped);

    let (tls_conns, _) = open_idle(&served, 1100, true).await;
    let (_, tcp_conns) = open_idle(&served, 1100, false).await;
    // Hold them all a little longer while the legitimate client keeps sending.
    tokio::time::sleep(Duration::from_secs(2)).await;

    stop.send_replace(true);
    let probes = legit.finish().await;
    let text = served.metrics().await;
    let open = metric(&text, "qcloud_ingress_webhook_connections_open");
    println!(
        "hostile TLS handshakes completed {}, TCP connections made {}, open on the server at the end {open}; legit: {} answered, slowest {:?}",
        tls_conns.len(),
        tcp_conns.len(),
        probes.answered,
        probes.slowest
    );
    probes.assert_all_answered_in_time("with 2,200 idle connections from one address");
    // One address never held more than its cap.
    assert!(open <= 128.0 + 2.0, "{open} connections open\n{text}");
    let evicted = "qcloud_ingress_webhook_connections_evicted_total{cause=\"source_limit\"";
    assert!(metric(&text, evicted) >= 500.0, "{text}");
    drop((tls_conns, tcp_conns));
}

// ---- each defence in-process ----------------------------------------------------------------

async fn metrics_of(server: &TestServer) -> String {
    server.admin_get("/metrics").await.1
}

/// Reads until the server closes the connection; returns how long that took (at most 10 s).
async fn closed_after<S: AsyncReadExt + Unpin>(stream: &mut S) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(elapsed) => panic!("connection not closed: {elapsed}"),
        }
    }
}

#[tokio::test]
async fn connections_that_do_not_start_in_time_are_cut_off_and_counted() {
    let server = TestServer::start_with(Options {
        tweak: |c| {
            c.handshake_timeout = Duration::from_millis(300);
            c.first_request_timeout = Duration::from_millis(300);
        },
        ..Options::default()
    })
    .await;
    let mut tcp = tcp_from(HOSTILE, server.addr).await.unwrap();
    assert!(closed_after(&mut tcp).await < Duration::from_secs(3));
    let connector = tls_connector(&server.certs.ca_cert_pem);
    let mut tls = tls_from(&connector, HOSTILE, server.addr).await.unwrap();
    assert!(closed_after(&mut tls).await < Duration::from_secs(3));
    // The API server's connection starts its request at once and is served.
    let mut conn = RawConn {
        stream: tls_from(&connector, LEGIT, server.addr).await.unwrap(),
    };
    let (status, _) = conn
        .post("/validate", &serde_json::to_vec(&review()).unwrap())
        .await
        .unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    let text = metrics_of(&server).await;
    for line in [
        r#"qcloud_ingress_webhook_connections_timed_out_total{stage="handshake"} 1"#,
        r#"qcloud_ingress_webhook_connections_timed_out_total{stage="first_request"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
}

#[tokio::test]
async fn a_source_at_its_cap_gives_up_an_idle_connection_and_is_refused_when_all_are_busy() {
    let server = TestServer::start_with(Options {
        tweak: |c| c.max_connections_per_source = 2,
        cluster: Some(Arc::new(SlowCluster {
            delay: Duration::from_millis(1500),
            ready: true,
        })),
        ..Options::default()
    })
    .await;
    let connector = tls_connector(&server.certs.ca_cert_pem);
    let one = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let body = serde_json::to_vec(&review()).unwrap();
    let busy = |stream| {
        let body = body.clone();
        tokio::spawn(async move { RawConn { stream }.post("/validate", &body).await })
    };
    let first = busy(tls_from(&connector, one, server.addr).await.unwrap());
    let mut idle = tls_from(&connector, one, server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // At the cap: the idle connection makes room for a new one.
    let second = busy(tls_from(&connector, one, server.addr).await.unwrap());
    assert!(closed_after(&mut idle).await < Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Both slots busy: refused at once.
    let refused = tls_from(&connector, one, server.addr).await;
    assert!(
        refused.is_err(),
        "a third connection from one address was served"
    );
    // Another address is not affected.
    let mut other = RawConn {
        stream: tls_from(&connector, LEGIT, server.addr).await.unwrap(),
    };
    assert_eq!(
        other.post("/validate", &body).await.unwrap().0,
        "HTTP/1.1 200 OK"
    );
    for reply in [first, second] {
        assert_eq!(reply.await.unwrap().unwrap().0, "HTTP/1.1 200 OK");
    }
    let text = metrics_of(&server).await;
    for line in [
        r#"qcloud_ingress_webhook_connections_evicted_total{cause="source_limit",stage="first_request"} 1"#,
        r#"qcloud_ingress_webhook_connections_refused_total{cause="source_limit"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
}

/// Sends the headers of a `declared`-byte POST and `sent` bytes of body from `ip`.
async fn partial_request(
    server: &TestServer,
    ip: IpAddr,
    declared: usize,
    sent: usize,
) -> TlsStream<TcpStream> {
    let connector = tls_connector(&server.certs.ca_cert_pem);
    let mut tls = tls_from(&connector, ip, server.addr).await.unwrap();
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: {SERVICE_HOST}\r\nContent-Type: application/json\r\n\
         Content-Length: {declared}\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&vec![b' '; sent]).await.unwrap();
    tls.flush().await.unwrap();
    tls
}

/// The status line and body of the answer on `stream`, within 5 s.
async fn answer_of(stream: &mut TlsStream<TcpStream>) -> (String, String) {
    let mut text = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut text)).await;
    let text = String::from_utf8_lossy(&text).to_string();
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[tokio::test]
async fn request_memory_refusals_say_why_in_one_line_and_the_memory_comes_back() {
    let server = TestServer::start_with(Options {
        limits: Limits {
            // Reservations are 100x the body: a share is 1 MiB, one request at most 3 MiB.
            request_memory_budget: 4 * MIB,
            review_memory_factor: 100,
            annotation_memory_factor: 0,
            memory_wait: Duration::from_millis(200),
            body_min_rate: 1000,
            body_max_pause: Duration::from_millis(500),
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let (a, b) = (
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5)),
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 6)),
    );
    // 40 KB would need 4 MB: never fits.
    let mut never = partial_request(&server, a, 40_000, 0).await;
    let (status, body) = answer_of(&mut never).await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large", "{body}");
    assert!(
        body.contains("needs about 4000000 bytes of memory"),
        "{body}"
    );
    // 8 KB holds 0.8 MB, most of a share; it stalls after 1 KB.
    let mut stalled = partial_request(&server, a, 8_000, 1_000).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut over_share = partial_request(&server, a, 8_000, 0).await;
    let (status, body) = answer_of(&mut over_share).await;
    assert_eq!(status, "HTTP/1.1 429 Too Many Requests", "{body}");
    assert!(body.contains("already hold their share"), "{body}");
    // 25 KB (2.5 MB) from another address does not fit beside the 0.8 MB held.
    let mut busy = partial_request(&server, b, 25_000, 0).await;
    let (status, body) = answer_of(&mut busy).await;
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable", "{body}");
    assert!(body.contains("server busy"), "{body}");
    assert!(!body.trim_end().contains('\n'), "one line: {body}");
    // The stalled body is cut off and its memory comes back.
    let (status, body) = answer_of(&mut stalled).await;
    assert_eq!(status, "HTTP/1.1 408 Request Timeout", "{body}");
    let text = metrics_of(&server).await;
    assert!(
        text.contains("qcloud_ingress_webhook_request_memory_held_bytes 0"),
        "{text}"
    );
    let reasons = [
        "never_fits",
        "source_memory",
        "memory_budget",
        "body_too_slow",
    ];
    for reason in reasons {
        let line = format!(
            "qcloud_ingress_webhook_rejected_requests_total{{endpoint=\"validate\",reason=\"{reason}\"}} 1"
        );
        assert!(text.contains(&line), "{line} missing in\n{text}");
    }
    // A body arriving in time is reviewed as usual.
    let reply = server.review("/validate", &review()).await;
    common::assert_allowed(&reply, &review());
}
