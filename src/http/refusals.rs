//! What the server refuses, evicts or cuts off to protect itself from misbehaving clients: each
//! kind counted by cause (label values from fixed sets, never an address) and logged at most once
//! per cause every [`LOG_INTERVAL`], with the number of lines left out since.
//!
//! See docs/threat-model.md for what each cause defends against.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// At most one log line per cause in this interval; the others are counted and reported with it.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Which limit a connection ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotLimit {
    /// `--max-connections`: every slot of the server is taken.
    Connections,
    /// `--max-connections-per-source`: every slot one source address may hold is taken.
    Source,
}

impl SlotLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connections => "connection_limit",
            Self::Source => "source_limit",
        }
    }
}

/// Where a connection was when it was evicted or timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// In the TLS handshake.
    Handshake,
    /// Handshake done, no request yet.
    FirstRequest,
    /// A request started, its headers incomplete.
    Headers,
    /// Idle between requests.
    KeepAlive,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Handshake => "handshake",
            Self::FirstRequest => "first_request",
            Self::Headers => "headers",
            Self::KeepAlive => "keep_alive",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EvictLabels {
    cause: &'static str,
    stage: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

/// Counters and gauges of the defences, and their rate-limited log.
#[derive(Debug, Default)]
pub struct Refusals {
    refused: Family<CauseLabels, Counter>,
    evicted: Family<EvictLabels, Counter>,
    timed_out: Family<StageLabels, Counter>,
    open: Gauge,
    memory_held: Gauge,
    memory_budget: Gauge,
    log: RateLimitedLog,
}

impl Refusals {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let this = Self::default();
        registry.register(
            "connections_refused",
            "Connections closed right after accept, by the limit they ran into",
            this.refused.clone(),
        );
        registry.register(
            "connections_evicted",
            "Idle connections closed to make room for a new one, by limit and stage",
            this.evicted.clone(),
        );
        registry.register(
            "connections_timed_out",
            "Connections closed for being too slow or idle too long, by stage",
            this.timed_out.clone(),
        );
        registry.register(
            "connections_open",
            "Connections holding a slot",
            this.open.clone(),
        );
        registry.register(
            "request_memory_held_bytes",
            "Request memory reserved now (bodies and the work of reviewing them)",
            this.memory_held.clone(),
        );
        registry.register(
            "request_memory_budget_bytes",
            "The request memory budget (--request-memory-budget)",
            this.memory_budget.clone(),
        );
        this
    }

    pub fn connection_refused(&self, limit: SlotLimit, peer: SocketAddr) {
        self.refused
            .get_or_create(&CauseLabels {
                cause: limit.as_str(),
            })
            .inc();
        if let Some(left_out) = self.log.allow("refused", limit.as_str()) {
            tracing::warn!(%peer, cause = limit.as_str(), left_out, "connection refused: no slot free and none idle to evict");
        }
    }

    pub fn connection_evicted(&self, limit: SlotLimit, stage: Stage, peer: SocketAddr) {
        self.evicted
            .get_or_create(&EvictLabels {
                cause: limit.as_str(),
                stage: stage.as_str(),
            })
            .inc();
        if let Some(left_out) = self.log.allow("evicted", stage.as_str()) {
            tracing::info!(%peer, cause = limit.as_str(), stage = stage.as_str(), left_out, "idle connection evicted to make room");
        }
    }

    pub fn timed_out(&self, stage: Stage, peer: SocketAddr) {
        self.timed_out
            .get_or_create(&StageLabels {
                stage: stage.as_str(),
            })
            .inc();
        // Idle keep-alive connections time out in normal operation; only the rest is news.
        if stage != Stage::KeepAlive
            && let Some(left_out) = self.log.allow("timed_out", stage.as_str())
        {
            tracing::info!(%peer, stage = stage.as_str(), left_out, "slow connection cut off");
        }
    }

    /// A request answered with a 4xx/5xx instead of a review; `reason` is a fixed label value.
    pub fn request_refused(&self, reason: &'static str, peer: Option<SocketAddr>, line: &str) {
        if let Some(left_out) = self.log.allow("request", reason) {
            let peer = peer.map(|p| p.to_string()).unwrap_or_default();
            tracing::warn!(peer, reason, left_out, "request refused: {line}");
        }
    }

    pub fn set_open(&self, open: usize) {
        self.open.set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    pub fn set_memory(&self, held: usize, budget: usize) {
        self.memory_held
            .set(i64::try_from(held).unwrap_or(i64::MAX));
        self.memory_budget
            .set(i64::try_from(budget).unwrap_or(i64::MAX));
    }
}

/// Lets one line per (kind, cause) through every [`LOG_INTERVAL`] and counts the ones it holds
/// back.
#[derive(Debug, Default)]
pub struct RateLimitedLog {
    last: Mutex<HashMap<LogKey, (Instant, u64)>>,
}

type LogKey = (&'static str, &'static str);

impl RateLimitedLog {
    /// `Some(lines left out since the last one)` when a line for `kind` and `cause` may be
    /// written now.
    pub fn allow(&self, kind: &'static str, cause: &'static str) -> Option<u64> {
        self.allow_at((kind, cause), Instant::now())
    }

    fn allow_at(&self, key: LogKey, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().ok()?;
        match last.get_mut(&key) {
            Some((at, left_out)) if now.duration_since(*at) < LOG_INTERVAL => {
                *left_out += 1;
                None
            }
            Some((at, left_out)) => {
                let reported = *left_out;
                *at = now;
                *left_out = 0;
                Some(reported)
            }
            None => {
                last.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_cause_and_interval_with_the_count_left_out() {
        let log = RateLimitedLog::default();
        let t0 = Instant::now();
        let (a, b) = (("refused", "a"), ("refused", "b"));
        assert_eq!(log.allow_at(a, t0), Some(0));
        assert_eq!(log.allow_at(a, t0 + Duration::from_secs(1)), None);
        assert_eq!(log.allow_at(a, t0 + Duration::from_secs(2)), None);
        // Another cause has its own allowance.
        assert_eq!(log.allow_at(b, t0 + Duration::from_secs(2)), Some(0));
        assert_eq!(log.allow_at(a, t0 + LOG_INTERVAL), Some(2));
        assert_eq!(log.allow_at(a, t0 + LOG_INTERVAL), None);
    }

    #[test]
    fn causes_are_counted_with_fixed_labels() {
        let mut registry = Registry::with_prefix("t");
        let refusals = Refusals::register(&mut registry);
        let peer: SocketAddr = "10.0.0.7:4242".parse().unwrap();
        refusals.connection_refused(SlotLimit::Source, peer);
        refusals.connection_evicted(SlotLimit::Connections, Stage::KeepAlive, peer);
        refusals.timed_out(Stage::Handshake, peer);
        refusals.set_open(3);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"t_connections_refused_total{cause="source_limit"} 1"#,
            r#"t_connections_evicted_total{cause="connection_limit",stage="keep_alive"} 1"#,
            r#"t_connections_timed_out_total{stage="handshake"} 1"#,
            "t_connections_open 3",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("10.0.0.7"), "{text}");
    }
}
