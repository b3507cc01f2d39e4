//! What a scale run measures of the webhook process: peak RSS (`VmHWM`, reset between phases
//! through `/proc/PID/clear_refs`), CPU ticks, sequential review latencies, and wrk's req/s and
//! percentiles when wrk is installed.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `VmHWM` (peak RSS) of `pid` in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}

/// Starts a new peak: `VmHWM` becomes the current RSS. False where the kernel refuses.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// User + system CPU of `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which ends with the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the name and state.
    #[allow(clippy::cast_precision_loss, reason = "ticks of a benchmark run")]
    let seconds = (ticks(11) + ticks(12)) as f64 / 100.0;
    seconds
}

pub fn mib(kib: u64) -> String {
    #[allow(clippy::cast_precision_loss, reason = "a figure to print")]
    let mib = kib as f64 / 1024.0;
    format!("{mib:.1}")
}

pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// p50 and p99 of `samples`.
pub fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    if samples.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    samples.sort_unstable();
    let at = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index into a short list"
        )]
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i]
    };
    (at(0.50), at(0.99))
}

/// Sends `body` to `url` one review at a time, `count` times or until `until` says stop, and
/// returns each review's latency; panics on a review not answered with 200.
pub async fn sequential(
    client: &reqwest::Client,
    url: &str,
    body: &str,
    count: usize,
    until: impl FnMut() -> bool,
) -> Vec<Duration> {
    paced(client, url, body, count, None, until).await
}

/// [`sequential`], starting a review at most every `pace` (`None`: back to back). Paced, the
/// client leaves the CPU it shares with the stand-in to the stand-in between reviews; an API
/// server sends reviews as writes arrive, not back to back.
pub async fn paced(
    client: &reqwest::Client,
    url: &str,
    body: &str,
    count: usize,
    pace: Option<Duration>,
    mut until: impl FnMut() -> bool,
) -> Vec<Duration> {
    let mut ticks = pace.map(|pace| {
        let mut ticks = tokio::time::interval(pace);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    });
    let mut samples = Vec::new();
    while samples.len() < count && !until() {
        if let Some(ticks) = ticks.as_mut() {
            ticks.tick().await;
        }
        let start = Instant::now();
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let _ = response.bytes().await.unwrap();
        samples.push(start.elapsed());
    }
    samples
}

/// wrk's figures for one scenario.
#[derive(Debug, Default)]
pub struct Load {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Loads `url` with `body` for `duration` (`wrk -t1 -c16 --latency`, pinned to CPU 1 when
/// `pin`); `None` when wrk is not installed.
pub fn wrk(url: &str, body: &Path, duration: &str, pin: bool, dir: &Path) -> Option<Load> {
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         local f = assert(io.open(os.getenv(\"BODY_FILE\"), \"rb\"))\nwrk.body = f:read(\"*a\")\nf:close()\n",
    )
    .ok()?;
    let mut command = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", "wrk"]);
        c
    } else {
        Command::new("wrk")
    };
    let output = command
        .args(["-t1", "-c16", "--latency", "-d", duration, "-s"])
        .arg(&script)
        .arg(url)
        .env("BODY_FILE", body)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    Some(parse_wrk(&text))
}

fn parse_wrk(text: &str) -> Load {
    let value_ms = |v: &str| {
        let (number, unit) =
            v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
        let n: f64 = number.parse().unwrap_or(0.0);
        match unit {
            "us" => n / 1000.0,
            "s" => n * 1000.0,
            _ => n,
        }
    };
    let mut load = Load::default();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", rate] => load.requests_per_second = rate.parse().unwrap_or(0.0),
            ["50%", v] => load.p50_ms = value_ms(v),
            ["99%", v] => load.p99_ms = value_ms(v),
            _ => {}
        }
    }
    load
}
