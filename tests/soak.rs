//! A bounded soak on loopback: a fixed number of reviews at a fixed concurrency against two
//! instances sharing one kubelet-style certificate directory, while the certificate is rotated
//! several times and one instance is shut down (the SIGTERM path) and replaced by a new one.
//! A client-side "endpoints controller" sends only to instances whose `/readyz` is 200, as
//! kube-proxy would. Every review must be answered.
//!
//! Short form (CI): `cargo test --test soak`. Long form:
//! `SOAK_REVIEWS=50000 SOAK_CONCURRENCY=64 SOAK_ROTATIONS=10 cargo test --release --test soak -- --nocapture`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{KubeletDir, Options, TestServer};
use qcloud_ingress_webhook::certs::{DevCa, DevCerts, dns_names};
use serde_json::{Value, json};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn options(dir: &KubeletDir, certs: &DevCerts) -> Options {
    Options {
        tls_files: Some((dir.cert(), dir.key(), certs.clone())),
        tweak: |c| {
            c.tls_reload_interval = Duration::from_millis(100);
            // Longer than the endpoints controller's poll, as in a real cluster.
            c.shutdown_delay = Duration::from_millis(500);
            c.shutdown_grace = Duration::from_secs(10);
        },
        ..Options::default()
    }
}

async fn reloads(server: &TestServer) -> u64 {
    let (_, text) = server.admin_get("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix("qcloud_ingress_webhook_tls_reloads_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    sent: AtomicUsize,
    answered: AtomicUsize,
    failed: AtomicUsize,
    latencies: Mutex<Vec<Duration>>,
    first_failure: Mutex<Option<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_with_rotations_and_a_rolling_restart_loses_nothing() {
    let total = env_or("SOAK_REVIEWS", 2000);
    let concurrency = env_or("SOAK_CONCURRENCY", 16);
    let rotations = env_or("SOAK_ROTATIONS", 3);

    let tmp = tempfile::tempdir().unwrap();
    let ca = DevCa::new().unwrap();
    let names = dns_names("qcloud-ingress-webhook", "qcloud-ingress-webhook");
    let certs = issue(&ca, &names);
    let dir = Arc::new(Mutex::new(KubeletDir::new(tmp.path(), &certs)));
    let opts = options(&dir.lock().unwrap(), &certs);
    let mut first = TestServer::start_with(opts.clone()).await;
    let second = TestServer::start_with(opts.clone()).await;

    // Endpoints: the instances whose /readyz is 200.
    let both = [
        (first.addr, first.admin_addr),
        (second.addr, second.admin_addr),
    ];
    let instances = Arc::new(Mutex::new(both.to_vec()));
    let endpoints = Arc::new(Mutex::new(both.iter().map(|(addr, _)| *addr).collect()));
    let done = Arc::new(AtomicBool::new(false));
    let controller = spawn_endpoints_controller(instances.clone(), endpoints.clone(), done.clone());

    let tally = Arc::new(Tally::default());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|id| {
            tokio::spawn(worker(Worker {
                id,
                total,
                client: trusting(&ca.cert_pem),
                tally: tally.clone(),
                next: next.clone(),
                endpoints: endpoints.clone(),
                review: common::fixture("examples/reviews/tke-ingress-ssl.json"),
            }))
        })
        .collect();

    // The disruptions, spread over the run.
    let mut restarted: Option<TestServer> = None;
    for r in 0..rotations {
        until_sent(&next, total * (r + 1) / (rotations + 2)).await;
        rotate(&ca, &names, &dir, &second, r).await;
        if r == 0 {
            restarted = Some(roll(&mut first, &opts, &instances).await);
        }
    }
    for w in workers {
        w.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    controller.await.unwrap();

    let (sent, answered, failed, p99) = tally.summary();
    let rolled = restarted.is_some();
    println!(
        "soak: reviews={total} concurrency={concurrency} rotations={rotations} rolling_restart={rolled} \
         sent={sent} answered={answered} failed={failed} p99={p99:?} elapsed={:?}",
        started.elapsed()
    );
    assert!(rolled);
    let first_failure = tally.first_failure.lock().unwrap().clone();
    assert_eq!(failed, 0, "first failure: {first_failure:?}");
    assert_eq!((sent, answered), (total, total), "sent and answered");
    assert!(reloads(&second).await >= u64::try_from(rotations).unwrap());
}

/// Waits until the workers have taken `mark` reviews.
async fn until_sent(next: &AtomicUsize, mark: usize) {
    while next.load(Ordering::SeqCst) < mark {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Rolling restart of `first`: a replacement starts and joins the endpoints, then `first` shuts
/// down (the SIGTERM path) and leaves them.
async fn roll(
    first: &mut TestServer,
    opts: &Options,
    instances: &Mutex<Vec<(SocketAddr, SocketAddr)>>,
) -> TestServer {
    let replacement = TestServer::start_with(opts.clone()).await;
    instances
        .lock()
        .unwrap()
        .push((replacement.addr, replacement.admin_addr));
    let task = first.signal_shutdown().unwrap();
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("instance drained")
        .unwrap();
    instances
        .lock()
        .unwrap()
        .retain(|(addr, _)| *addr != first.addr);
    replacement
}

/// Publishes a new pair from the same CA the kubelet's way and waits until `observer` serves it.
async fn rotate(
    ca: &DevCa,
    names: &[String],
    dir: &Mutex<KubeletDir>,
    observer: &TestServer,
    r: usize,
) {
    let before = reloads(observer).await;
    let (cert, key) = ca.issue(names).unwrap();
    dir.lock().unwrap().publish(cert.as_bytes(), key.as_bytes());
    let deadline = Instant::now() + Duration::from_secs(10);
    while reloads(observer).await == before {
        assert!(Instant::now() < deadline, "rotation {r} never picked up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn issue(ca: &DevCa, names: &[String]) -> DevCerts {
    let (cert_pem, key_pem) = ca.issue(names).unwrap();
    DevCerts {
        ca_cert_pem: ca.cert_pem.clone(),
        ca_key_pem: ca.key_pem(),
        cert_pem,
        key_pem,
    }
}

/// A client like the API server's: trusts the CA bundle, HTTP/1.1, keep-alive.
fn trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .http1_only()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

impl Tally {
    /// Sent, answered, failed, p99 latency.
    fn summary(&self) -> (usize, usize, usize, Duration) {
        let mut latencies = self.latencies.lock().unwrap().clone();
        latencies.sort();
        let p99 = latencies
            .get((latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default();
        (
            self.sent.load(Ordering::SeqCst),
            self.answered.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
            p99,
        )
    }
}

/// Polls every instance's `/readyz` and publishes the ready ones, like the endpoints controller.
fn spawn_endpoints_controller(
    instances: Arc<Mutex<Vec<(SocketAddr, SocketAddr)>>>,
    endpoints: Arc<Mutex<Vec<SocketAddr>>>,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        while !done.load(Ordering::SeqCst) {
            let all = instances.lock().unwrap().clone();
            let mut ready = Vec::new();
            for (addr, admin) in all {
                let ok = http
                    .get(format!("http://{admin}/readyz"))
                    .timeout(Duration::from_millis(200))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                if ok {
                    ready.push(addr);
                }
            }
            *endpoints.lock().unwrap() = ready;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

struct Worker {
    id: usize,
    total: usize,
    client: reqwest::Client,
    tally: Arc<Tally>,
    next: Arc<AtomicUsize>,
    endpoints: Arc<Mutex<Vec<SocketAddr>>>,
    review: Value,
}

/// Sends reviews to ready endpoints until `total` have been sent; tallies each outcome.
async fn worker(w: Worker) {
    loop {
        let n = w.next.fetch_add(1, Ordering::SeqCst);
        if n >= w.total {
            break;
        }
        let addr = loop {
            let ready = w.endpoints.lock().unwrap().clone();
            if !ready.is_empty() {
                break ready[(n + w.id) % ready.len()];
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let uid = format!("soak-{n}");
        let mut body: Value = w.review.clone();
        body["request"]["uid"] = json!(uid);
        w.tally.sent.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let outcome = w
            .client
            .post(format!(
                "https://localhost:{}/validate?timeout=10s",
                addr.port()
            ))
            .json(&body)
            .send()
            .await;
        let checked = match outcome {
            Ok(response) if response.status() == 200 => {
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                (answer["response"]["uid"] == json!(uid) && answer["response"]["allowed"] == true)
                    .then_some(())
                    .ok_or_else(|| format!("bad answer: {answer}"))
            }
            Ok(response) => Err(format!("HTTP {}", response.status())),
            Err(e) => Err(format!("{e:?}")),
        };
        match checked {
            Ok(()) => {
                w.tally.answered.fetch_add(1, Ordering::SeqCst);
                w.tally.latencies.lock().unwrap().push(started.elapsed());
            }
            Err(e) => {
                w.tally.failed.fetch_add(1, Ordering::SeqCst);
                w.tally.first_failure.lock().unwrap().get_or_insert(e);
            }
        }
    }
}
