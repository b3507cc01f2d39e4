//! What the self-managed certificate authority reports to the HTTP layer: whether a serving
//! certificate is loaded and the webhook configurations' `caBundle` holds its CA (for
//! `/readyz`), the CA's notAfter and how often `caBundle` had to be put back (for `/metrics`).
//! Written by `certs::self_managed`, read here; plain atomics, so neither side takes a lock.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The self-managed authority's state, as the admin port shows it.
#[derive(Debug, Default)]
pub struct AuthorityStatus {
    serving_loaded: AtomicBool,
    bundle_holds_ca: AtomicBool,
    /// notAfter of the CA that signs the served certificate (Unix seconds; 0 before the first).
    ca_not_after: AtomicI64,
    reinjections: AtomicU64,
}

impl AuthorityStatus {
    /// A serving certificate signed by a CA valid until `ca_not_after` is served from now on.
    pub fn set_serving(&self, ca_not_after: i64) {
        self.ca_not_after.store(ca_not_after, Ordering::SeqCst);
        self.serving_loaded.store(true, Ordering::SeqCst);
    }

    /// Whether every managed webhook configuration's `caBundle` holds the serving CA.
    pub fn set_bundle_holds_ca(&self, holds: bool) {
        self.bundle_holds_ca.store(holds, Ordering::SeqCst);
    }

    /// `caBundle` was found without the CA after it had been injected, and put back.
    pub fn reinjected(&self) {
        self.reinjections.fetch_add(1, Ordering::SeqCst);
    }

    pub fn reinjections(&self) -> u64 {
        self.reinjections.load(Ordering::SeqCst)
    }

    /// `None` when ready, else why not.
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        if !self.serving_loaded.load(Ordering::SeqCst) {
            Some("no self-managed serving certificate loaded yet")
        } else if !self.bundle_holds_ca.load(Ordering::SeqCst) {
            Some("the webhook configurations' caBundle does not hold the serving CA yet")
        } else {
            None
        }
    }
}

/// Exposes an [`AuthorityStatus`] at scrape time.
#[derive(Debug)]
pub(super) struct AuthorityCollector {
    pub(super) status: std::sync::Arc<AuthorityStatus>,
}

impl Collector for AuthorityCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let not_after = self.status.ca_not_after.load(Ordering::SeqCst);
        if not_after > 0 {
            let family = encoder.encode_descriptor(
                "ca_expiry_timestamp_seconds",
                "notAfter of the self-managed CA that signs the served certificate (Unix time)",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(not_after).encode(family)?;
        }
        let family = encoder.encode_descriptor(
            "ca_bundle_reinjections",
            "Times caBundle of a webhook configuration lacked the CA after injection and was put back",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(self.status.reinjections()).encode(family)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_with_a_certificate_and_the_ca_in_the_bundle() {
        let status = AuthorityStatus::default();
        assert!(status.not_ready_reason().is_some());
        status.set_bundle_holds_ca(true);
        assert!(status.not_ready_reason().is_some(), "no certificate yet");
        status.set_serving(1_900_000_000);
        assert_eq!(status.not_ready_reason(), None);
        status.set_bundle_holds_ca(false);
        assert!(status.not_ready_reason().unwrap().contains("caBundle"));
    }
}
