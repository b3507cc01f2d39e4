//! Scale harness: the real binary with 100,000 Services, 100,000 Ingresses and 20,000 Secrets,
//! offline (one `kubectl get -o json` List file) and live (against the STAND-IN API server, a
//! test double: see `stand_in_apiserver`). `scripts/bench-scale.sh` runs the ignored tests in a
//! release build and prints their `scale:` lines; sizes and options come from the environment:
//!
//! | variable | default | |
//! |---|---|---|
//! | `SCALE_SERVICES`, `SCALE_INGRESSES`, `SCALE_SECRETS`, `SCALE_NAMESPACES` | 100000, 100000, 20000, 1000 | objects |
//! | `SCALE_INPUTS` | made with `scripts/bench/make_inputs.py` | the load benchmark's review bodies and its small state |
//! | `SCALE_AUDIT_INTERVAL`, `SCALE_AUDIT_RATE` | `10m`, the default rate | live `serve`'s audit (`0s`: off) |
//! | `SCALE_AUDIT_WAIT` | unset | wait for the first audit pass and report its time and CPU |
//! | `SCALE_REVIEWS` | 2000 | sequential reviews per latency figure |
//! | `SCALE_RELIST_PACE_US` | 2000 | during the re-list, a review every this many µs (`0`: back to back) |
//! | `SCALE_WRK` | unset | a wrk duration (`10s`): also load each scenario with wrk |
//! | `SCALE_PIN` | unset | pin the webhook to CPU 0 (one tokio worker) and wrk to CPU 1 |
//!
//! Nothing here is timed as a test: the figures are printed, never asserted. The small-scale
//! smoke at the end runs in CI and checks that the harness itself works (every phase answers,
//! the re-list happens, the audit judges every Ingress).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed set-up is a failed test"
)]

mod common;
#[path = "scale/measure.rs"]
mod measure;
#[path = "scale/objects.rs"]
mod objects;
mod stand_in_apiserver;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use measure::{mib, ms, percentiles};
use objects::Sizes;
use serde_json::Value;
use stand_in_apiserver::StandIn;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sizes_from_env() -> Sizes {
    Sizes {
        services: env_or("SCALE_SERVICES", 100_000),
        ingresses: env_or("SCALE_INGRESSES", 100_000),
        secrets: env_or("SCALE_SECRETS", 20_000),
        namespaces: env_or("SCALE_NAMESPACES", 1_000),
    }
}

/// The load benchmark's inputs: review bodies and the small state they refer to.
struct Inputs {
    dir: PathBuf,
    _made: Option<tempfile::TempDir>,
}

impl Inputs {
    fn get() -> Self {
        if let Ok(dir) = std::env::var("SCALE_INPUTS") {
            return Self {
                dir: dir.into(),
                _made: None,
            };
        }
        let made = tempfile::tempdir().unwrap();
        let status = Command::new("python3")
            .arg(common::repo_path("scripts/bench/make_inputs.py"))
            .arg(made.path())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "make_inputs.py failed");
        Self {
            dir: made.path().to_owned(),
            _made: Some(made),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The Services and Secrets the review bodies name (`state-small`).
    fn base_objects(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path("state-small/state.json")).unwrap();
        let list: Value = serde_json::from_str(&text).unwrap();
        list["items"].as_array().unwrap().clone()
    }

    /// The denied body of the load benchmark with its two findings on cached facts (a ClusterIP
    /// backend, a missing Service) turned into a Service that exists: every deny left rests on
    /// the request alone (host, path, http-rules) or the Secret read for it, so it triggers no
    /// confirmation.
    fn write_denied_local(&self, dir: &Path) -> PathBuf {
        let text = std::fs::read_to_string(self.path("review-denied.json")).unwrap();
        let mut review: Value = serde_json::from_str(&text).unwrap();
        for rule in review["request"]["object"]["spec"]["rules"]
            .as_array_mut()
            .unwrap()
        {
            for path in rule["http"]["paths"].as_array_mut().unwrap() {
                path["backend"]["service"]["name"] = "web".into();
            }
        }
        let path = dir.join("review-denied-local.json");
        std::fs::write(&path, review.to_string()).unwrap();
        path
    }
}

/// The real binary's `serve`, with its output in a file.
struct Webhook {
    child: common::KillOnDrop,
    admin_port: u16,
    url: String,
    client: reqwest::Client,
    log: PathBuf,
}

fn binary() -> String {
    std::env::var("SCALE_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_qcloud-ingress-webhook").to_owned())
}

impl Webhook {
    fn start(dir: &Path, args: &[String]) -> Self {
        let (port, admin_port) = (common::free_port(), common::free_port());
        let log = dir.join("webhook.log");
        let program = if std::env::var_os("SCALE_PIN").is_some() {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]).arg(binary());
            c
        } else {
            Command::new(binary())
        };
        let (mut command, certs) = common::serve_command(program, dir, port, admin_port);
        command
            .args(["--log-format", "json"])
            .args(args)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null());
        let child = common::KillOnDrop(command.spawn().unwrap());
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            child,
            admin_port,
            url: format!("https://{}:{port}/validate", common::SERVICE_HOST),
            client: common::client_for(&certs, addr),
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// GET on the admin port, with the token [`loaded_stand_in`] lets read `/audit`.
    async fn admin_get(&self, path: &str) -> (u16, String) {
        let url = format!("http://127.0.0.1:{}{path}", self.admin_port);
        match reqwest::Client::new()
            .get(url)
            .bearer_auth(SCALE_READER_TOKEN)
            .send()
            .await
        {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    }

    /// Waits for `/readyz` 200; the time it took from now.
    async fn ready(&self, give_up: Duration) -> Duration {
        let start = Instant::now();
        while self.admin_get("/readyz").await.0 != 200 {
            assert!(start.elapsed() < give_up, "the webhook did not get ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        start.elapsed()
    }

    /// Lines of its log containing `text`.
    fn log_lines(&self, text: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(text))
            .count()
    }

    /// p50 and p99 of `count` sequential reviews of `body`.
    async fn latency(&self, body: &Path, count: usize) -> (Duration, Duration) {
        let body = std::fs::read_to_string(body).unwrap();
        let mut samples =
            measure::sequential(&self.client, &self.url, &body, count, || false).await;
        percentiles(&mut samples)
    }
}

/// One `scale:` line of figures.
fn report(fields: &[(&str, String)]) {
    let line: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("scale: {}", line.join(" "));
}

// ---- live mode ---------------------------------------------------------------------------------

struct Live {
    sizes: Sizes,
    audit_interval: String,
    audit_rate: Option<String>,
    /// Wait for the audit's first pass and report it.
    audit_wait: bool,
    reviews: usize,
    /// During the re-list, a review at most this often (`None`: back to back).
    relist_pace: Option<Duration>,
}

impl Live {
    fn from_env(sizes: Sizes) -> Self {
        Self {
            sizes,
            audit_interval: env_or("SCALE_AUDIT_INTERVAL", "10m".to_owned()),
            audit_rate: std::env::var("SCALE_AUDIT_RATE").ok(),
            audit_wait: std::env::var_os("SCALE_AUDIT_WAIT").is_some(),
            reviews: env_or("SCALE_REVIEWS", 2_000),
            relist_pace: match env_or("SCALE_RELIST_PACE_US", 2_000) {
                0 => None,
                us => Some(Duration::from_micros(us)),
            },
        }
    }

    fn args(&self, kubeconfig: &Path) -> Vec<String> {
        let mut args = vec![
            "--kubeconfig".to_owned(),
            kubeconfig.display().to_string(),
            "--audit-interval".to_owned(),
            self.audit_interval.clone(),
        ];
        if let Some(rate) = &self.audit_rate {
            args.extend(["--audit-rate".to_owned(), rate.clone()]);
        }
        args
    }
}

/// The bearer token allowed to read `/audit` in the scale runs.
const SCALE_READER_TOKEN: &str = "scale-audit-reader";

fn loaded_stand_in(sizes: Sizes, inputs: &Inputs) -> (StandIn, Duration) {
    let stand_in = StandIn::start_on_own_thread();
    stand_in.add_token(SCALE_READER_TOKEN, "scale");
    stand_in.grant("scale", "get", "/audit");
    let start = Instant::now();
    stand_in.load(inputs.base_objects());
    stand_in.load(objects::all(sizes));
    (stand_in, start.elapsed())
}

/// Starts the webhook on the stand-in; reports the initial sync.
async fn live_sync(live: &Live, stand_in: &StandIn, dir: &Path) -> Webhook {
    let webhook = Webhook::start(dir, &live.args(&stand_in.kubeconfig(dir)));
    let sync = webhook.ready(Duration::from_secs(600)).await;
    let cpu = measure::cpu_seconds(webhook.pid());
    report(&[
        ("mode", "live".into()),
        ("audit", live.audit_interval.clone()),
        ("objects", live.sizes.label()),
        ("phase", "sync".into()),
        ("sync_s", format!("{:.2}", sync.as_secs_f64())),
        ("cpu_s", format!("{cpu:.2}")),
        ("peak_rss_mib", mib(measure::peak_rss_kib(webhook.pid()))),
        ("rss_mib", mib(measure::rss_kib(webhook.pid()))),
    ]);
    webhook
}

/// Waits for the audit's first full pass; reports its time and CPU. Returns its report.
async fn audit_pass(live: &Live, webhook: &Webhook) -> Value {
    let (start, cpu) = (Instant::now(), measure::cpu_seconds(webhook.pid()));
    // Polls the pass's timestamp in /metrics once a second: /audit itself is a report of every
    // finding, whose cost would be counted in the pass's CPU.
    loop {
        let (status, text) = webhook.admin_get("/metrics").await;
        assert_eq!(status, 200, "{text}");
        if text.contains("audit_last_pass_timestamp_seconds ") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(1800), "no audit pass");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (took, cpu) = (start.elapsed(), measure::cpu_seconds(webhook.pid()) - cpu);
    let (status, text) = webhook.admin_get("/audit").await;
    assert_eq!(status, 200, "{text}");
    let report_json: Value = serde_json::from_str(&text).unwrap();
    let judged = report_json["ingresses"].as_u64().unwrap_or(0);
    let findings = report_json["findings"].as_array().map_or(0, Vec::len);
    #[allow(clippy::cast_precision_loss, reason = "a figure to print")]
    let per_ingress_us = cpu * 1e6 / judged.max(1) as f64;
    report(&[
        ("mode", "live".into()),
        ("objects", live.sizes.label()),
        ("phase", "audit-pass".into()),
        ("ingresses", judged.to_string()),
        ("findings", findings.to_string()),
        ("pass_s", format!("{:.2}", took.as_secs_f64())),
        ("cpu_s", format!("{cpu:.2}")),
        ("cpu_per_ingress_us", format!("{per_ingress_us:.1}")),
        ("peak_rss_mib", mib(measure::peak_rss_kib(webhook.pid()))),
    ]);
    report_json
}

/// Forces a full re-list of both kinds (410 Gone, as after etcd compaction) and sends reviews
/// while it runs; reports its time, the peak RSS during it and the reviews' latency.
async fn live_relist(live: &Live, stand_in: &StandIn, webhook: &Webhook, body: &Path) -> usize {
    let pid = webhook.pid();
    let before = webhook.log_lines("re-)listed");
    let reset = measure::reset_peak(pid);
    let body_text = std::fs::read_to_string(body).unwrap();
    let start = Instant::now();
    stand_in.expire("Service");
    stand_in.expire("Ingress");
    // The log grows by a line per review, so it is read every 50 ms, not once per review (which
    // made the client, and not the webhook, the busiest thread of the re-list).
    let mut looked = Instant::now();
    let mut done = || {
        if looked.elapsed() < Duration::from_millis(50) {
            return false;
        }
        looked = Instant::now();
        webhook.log_lines("re-)listed") >= before + 2
    };
    let mut samples = measure::paced(
        &webhook.client,
        &webhook.url,
        &body_text,
        usize::MAX,
        live.relist_pace,
        || done() || start.elapsed() > Duration::from_secs(600),
    )
    .await;
    let took = start.elapsed();
    let reviews = samples.len();
    let (p50, p99) = percentiles(&mut samples);
    report(&[
        ("mode", "live".into()),
        ("audit", live.audit_interval.clone()),
        ("objects", live.sizes.label()),
        ("phase", "relist".into()),
        ("relist_s", format!("{:.2}", took.as_secs_f64())),
        ("reviews_during", reviews.to_string()),
        ("review_p50_ms", ms(p50)),
        ("review_p99_ms", ms(p99)),
        ("peak_rss_mib", mib(measure::peak_rss_kib(pid))),
        ("peak_reset", reset.to_string()),
    ]);
    webhook.log_lines("re-)listed") - before
}

/// Sequential latency of each body.
async fn latencies(mode: &str, label: &str, webhook: &Webhook, bodies: &[Body], count: usize) {
    for (scenario, body) in bodies {
        let (p50, p99) = webhook.latency(body, count).await;
        report(&[
            ("mode", mode.into()),
            ("objects", label.into()),
            ("phase", format!("sequential-{scenario}")),
            ("reviews", count.to_string()),
            ("p50_ms", ms(p50)),
            ("p99_ms", ms(p99)),
        ]);
    }
}

/// A scenario's name and its review body.
type Body = (&'static str, PathBuf);

/// wrk on each body, when `SCALE_WRK` names a duration.
fn load(mode: &str, webhook: &Webhook, bodies: &[Body], dir: &Path) {
    let Some(duration) = std::env::var("SCALE_WRK").ok().filter(|d| !d.is_empty()) else {
        return;
    };
    let pin = std::env::var_os("SCALE_PIN").is_some();
    let url = webhook.url.replace(common::SERVICE_HOST, "127.0.0.1");
    for (scenario, body) in bodies {
        let cpu = measure::cpu_seconds(webhook.pid());
        let Some(load) = measure::wrk(&url, body, &duration, pin, dir) else {
            println!("scale: wrk is not installed; no load figures");
            return;
        };
        let cpu = measure::cpu_seconds(webhook.pid()) - cpu;
        report(&[
            ("mode", mode.into()),
            ("phase", format!("wrk-{scenario}")),
            ("req_s", format!("{:.0}", load.requests_per_second)),
            ("p50_ms", format!("{:.3}", load.p50_ms)),
            ("p99_ms", format!("{:.3}", load.p99_ms)),
            ("server_cpu_s", format!("{cpu:.2}")),
        ]);
    }
}

/// The whole live run; returns (re-lists seen, audit report when waited for).
async fn run_live(live: &Live, inputs: &Inputs) -> (usize, Option<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let (stand_in, loaded) = loaded_stand_in(live.sizes, inputs);
    println!(
        "scale: stand-in loaded {} objects in {:.1}s",
        live.sizes.label(),
        loaded.as_secs_f64()
    );
    let webhook = live_sync(live, &stand_in, dir.path()).await;
    let audited = if live.audit_wait {
        Some(audit_pass(live, &webhook).await)
    } else {
        None
    };
    // Denied with and without a confirmation GET: the cost of confirming (issue #17).
    let bodies = [
        ("allowed", inputs.path("review-allowed.json")),
        ("denied-local", inputs.write_denied_local(dir.path())),
        ("denied-confirmed", inputs.path("review-denied.json")),
    ];
    let label = live.sizes.label();
    latencies("live", &label, &webhook, &bodies, live.reviews).await;
    let relists = live_relist(live, &stand_in, &webhook, &bodies[0].1).await;
    load("live", &webhook, &bodies, dir.path());
    let (_, metrics) = webhook.admin_get("/metrics").await;
    for line in metrics
        .lines()
        .filter(|l| l.contains("deny_confirmations_total"))
    {
        println!("scale: {line}");
    }
    report(&[
        ("mode", "live".into()),
        ("audit", live.audit_interval.clone()),
        ("objects", live.sizes.label()),
        ("phase", "end".into()),
        ("rss_mib", mib(measure::rss_kib(webhook.pid()))),
        ("object_gets", stand_in.object_gets().to_string()),
    ]);
    (relists, audited)
}

// ---- offline mode ------------------------------------------------------------------------------

/// The whole offline run: the List file, load time, peak RSS, latencies. Returns the verdicts
/// of the allowed and denied bodies.
async fn run_offline(sizes: Sizes, inputs: &Inputs, reviews: usize) -> (bool, bool) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let bytes = objects::write_list(
        &state,
        inputs.base_objects().into_iter().chain(objects::all(sizes)),
    );
    let args = ["--cluster-state".to_owned(), state.display().to_string()];
    let webhook = Webhook::start(dir.path(), &args);
    let load_time = webhook.ready(Duration::from_secs(600)).await;
    report(&[
        ("mode", "offline".into()),
        ("objects", sizes.label()),
        ("phase", "load".into()),
        ("file_mib", mib(bytes / 1024)),
        ("load_s", format!("{:.2}", load_time.as_secs_f64())),
        ("peak_rss_mib", mib(measure::peak_rss_kib(webhook.pid()))),
        ("rss_mib", mib(measure::rss_kib(webhook.pid()))),
    ]);
    let bodies = [
        ("allowed", inputs.path("review-allowed.json")),
        ("denied", inputs.path("review-denied.json")),
    ];
    latencies("offline", &sizes.label(), &webhook, &bodies, reviews).await;
    load("offline", &webhook, &bodies, dir.path());
    report(&[
        ("mode", "offline".into()),
        ("objects", sizes.label()),
        ("phase", "end".into()),
        ("peak_rss_mib", mib(measure::peak_rss_kib(webhook.pid()))),
    ]);
    (
        verdict(&webhook, &inputs.path("review-allowed.json")).await,
        verdict(&webhook, &inputs.path("review-denied.json")).await,
    )
}

async fn verdict(webhook: &Webhook, body: &Path) -> bool {
    let answer = webhook
        .client
        .post(&webhook.url)
        .header("content-type", "application/json")
        .body(std::fs::read_to_string(body).unwrap())
        .send()
        .await
        .unwrap();
    let answer: Value = answer.json().await.unwrap();
    answer["response"]["allowed"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a scale run of minutes; scripts/bench-scale.sh runs it"]
async fn scale_live() {
    common::install_provider();
    let inputs = Inputs::get();
    let (relists, _) = run_live(&Live::from_env(sizes_from_env()), &inputs).await;
    assert_eq!(relists, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a scale run of minutes; scripts/bench-scale.sh runs it"]
async fn scale_offline() {
    common::install_provider();
    let inputs = Inputs::get();
    let reviews = env_or("SCALE_REVIEWS", 2_000);
    let verdicts = run_offline(sizes_from_env(), &inputs, reviews).await;
    assert_eq!(verdicts, (true, false));
}

/// The harness at a small scale, in CI: both modes answer, the re-list happens while reviews
/// are answered, and the audit judges every Ingress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_harness_runs_at_a_small_scale() {
    common::install_provider();
    let inputs = Inputs::get();
    let sizes = Sizes {
        services: 300,
        ingresses: 300,
        secrets: 30,
        namespaces: 30,
    };
    assert_eq!(run_offline(sizes, &inputs, 20).await, (true, false));
    let live = Live {
        sizes,
        audit_interval: "10m".into(),
        audit_rate: Some("10000".into()),
        audit_wait: true,
        reviews: 20,
        relist_pace: Some(Duration::from_millis(2)),
    };
    let (relists, audited) = run_live(&live, &inputs).await;
    assert_eq!(relists, 2, "both kinds re-listed");
    let audited = audited.expect("the audit pass was waited for");
    assert_eq!(audited["ingresses"], 300, "{audited}");
}
