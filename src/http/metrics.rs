//! Prometheus metrics (prometheus-client). Every label value is a `&'static str` from a fixed
//! set: endpoint, operation, decision, rule id from the catalogue. Never a namespace, name, host
//! or error text.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::refusals::Refusals;
use crate::audit::live::Auditor;
use crate::cluster::ClusterView;

/// Near the API server's `apiserver_admission_webhook_admission_duration_seconds` buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0,
];

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    /// `validate` or `mutate`.
    pub endpoint: &'static str,
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT`, or `unknown` for a malformed request.
    pub operation: &'static str,
    /// `allowed`, `warned`, `denied`, `skipped` (not ours, exempt, DELETE).
    pub decision: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FindingLabels {
    /// A rule id from the fixed catalogue.
    pub rule: &'static str,
    /// `deny` or `warn`.
    pub severity: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SkippedLabels {
    /// A rule id from the fixed catalogue.
    pub rule: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConfirmationLabels {
    /// `upheld` (the API server agreed with the cache), `overturned` (it did not, and the deny
    /// went away or shrank), `failed` (no answer in time: the cache decided).
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    pub endpoint: &'static str,
    /// `bad_request` (400), `too_large` (413), `never_fits` (413: its review needs more memory
    /// than the whole budget), `source_memory` (429), `memory_budget` (503) or `body_too_slow`
    /// (408).
    pub reason: &'static str,
}

/// All metrics of the process. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reviews: Family<ReviewLabels, Counter>,
    latency: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    findings: Family<FindingLabels, Counter>,
    skipped: Family<SkippedLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
    cert_reloads: Counter,
    cert_reload_errors: Counter,
    cert_expiry: Gauge,
    confirmations: Family<ConfirmationLabels, Counter>,
    findings_overturned: Counter,
    /// Connection and request refusals of the hostile-load defences.
    pub refusals: Arc<Refusals>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("qcloud_ingress_webhook");
        let reviews = Family::<ReviewLabels, Counter>::default();
        let latency: Family<EndpointLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let (findings, skipped) = register_findings(&mut registry);
        let rejected = Family::<RejectLabels, Counter>::default();
        let cert_reloads = Counter::default();
        let cert_reload_errors = Counter::default();
        let cert_expiry = Gauge::default();
        registry.register(
            "reviews",
            "AdmissionReviews answered, by endpoint, operation and decision",
            reviews.clone(),
        );
        registry.register(
            "review_duration_seconds",
            "Time to answer an AdmissionReview, body read to response",
            latency.clone(),
        );
        registry.register(
            "rejected_requests",
            "Requests answered with an HTTP error (400, 408, 413, 429, 503) instead of an AdmissionReview",
            rejected.clone(),
        );
        registry.register(
            "tls_reloads",
            "Serving certificate reloads that took effect",
            cert_reloads.clone(),
        );
        registry.register(
            "tls_reload_errors",
            "Serving certificate reloads refused (the old pair was kept)",
            cert_reload_errors.clone(),
        );
        registry.register(
            "tls_cert_expiry_timestamp_seconds",
            "notAfter of the leaf certificate served now, in seconds since the Unix epoch",
            cert_expiry.clone(),
        );
        let (confirmations, findings_overturned) = register_confirmations(&mut registry);
        let refusals = Arc::new(Refusals::register(&mut registry));
        Self {
            registry,
            reviews,
            latency,
            findings,
            skipped,
            rejected,
            cert_reloads,
            cert_reload_errors,
            cert_expiry,
            confirmations,
            findings_overturned,
            refusals,
        }
    }

    /// One confirmation of cached facts with the API server, and how many deny findings it
    /// removed.
    pub fn observe_confirmation(&self, outcome: &'static str, overturned: usize) {
        self.confirmations
            .get_or_create(&ConfirmationLabels { outcome })
            .inc();
        self.findings_overturned.inc_by(overturned as u64);
    }

    pub fn observe_review(&self, labels: ReviewLabels, elapsed: Duration) {
        self.latency
            .get_or_create(&EndpointLabels {
                endpoint: labels.endpoint,
            })
            .observe(elapsed.as_secs_f64());
        self.reviews.get_or_create(&labels).inc();
    }

    pub fn observe_finding(&self, rule: &'static str, severity: &'static str) {
        self.findings
            .get_or_create(&FindingLabels { rule, severity })
            .inc();
    }

    /// A finding the Ingress's skip annotation skipped: counted apart from `findings`.
    pub fn observe_skipped(&self, rule: &'static str) {
        self.skipped.get_or_create(&SkippedLabels { rule }).inc();
    }

    pub fn observe_rejection(&self, endpoint: &'static str, reason: &'static str) {
        self.rejected
            .get_or_create(&RejectLabels { endpoint, reason })
            .inc();
    }

    pub fn cert_reloaded(&self) {
        self.cert_reloads.inc();
    }

    pub fn cert_reload_failed(&self) {
        self.cert_reload_errors.inc();
    }

    /// Records the notAfter (Unix seconds) of the certificate now served.
    pub fn cert_served_until(&self, not_after: i64) {
        self.cert_expiry.set(not_after);
    }

    /// Reports the cluster view's cache health at each scrape (only views that cache anything report).
    pub fn watch_cluster(&mut self, cluster: Arc<dyn ClusterView>) {
        self.registry
            .register_collector(Box::new(ClusterCacheCollector { cluster }));
    }

    /// Exposes the cloud client's calls by action and outcome, and its cache hits (cloud
    /// checks on only).
    pub fn watch_cloud(&mut self, stats: Arc<crate::cloud::CloudStats>) {
        self.registry
            .register_collector(Box::new(CloudCollector { stats }));
    }

    /// Exposes the self-managed certificate authority's state, read at scrape time.
    pub fn watch_authority(&mut self, status: Arc<super::authority::AuthorityStatus>) {
        self.registry
            .register_collector(Box::new(super::authority::AuthorityCollector { status }));
    }

    /// Exposes what the background audit last found, read at scrape time.
    pub fn watch_audit(&mut self, auditor: Arc<Auditor>) {
        self.registry
            .register_collector(Box::new(AuditCollector { auditor }));
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Findings that deny or warn, and findings an Ingress's skip annotation skipped.
fn register_findings(
    registry: &mut Registry,
) -> (
    Family<FindingLabels, Counter>,
    Family<SkippedLabels, Counter>,
) {
    let findings = Family::<FindingLabels, Counter>::default();
    let skipped = Family::<SkippedLabels, Counter>::default();
    registry.register(
        "findings",
        "Rule findings in answered reviews, by rule id and severity",
        findings.clone(),
    );
    registry.register(
        "findings_skipped",
        "Rule findings in answered reviews that the Ingress's skip annotation skipped, by rule id",
        skipped.clone(),
    );
    (findings, skipped)
}

fn register_confirmations(
    registry: &mut Registry,
) -> (Family<ConfirmationLabels, Counter>, Counter) {
    let confirmations = Family::<ConfirmationLabels, Counter>::default();
    let overturned = Counter::default();
    registry.register(
        "deny_confirmations",
        "Would-be denies on cached cluster facts, confirmed with the API server, by outcome",
        confirmations.clone(),
    );
    registry.register(
        "deny_findings_overturned",
        "Deny findings on cached facts that the API server's answer removed",
        overturned.clone(),
    );
    (confirmations, overturned)
}

// Cluster cache health (live mode). Read from the view at scrape time rather than pushed, so the
// watch tasks know nothing of Prometheus. The only label is the fixed resource name.

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    resource: &'static str,
}

struct ClusterCacheCollector {
    cluster: Arc<dyn ClusterView>,
}

impl std::fmt::Debug for ClusterCacheCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterCacheCollector")
    }
}

impl Collector for ClusterCacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let statuses = self.cluster.cache_status();
        if statuses.is_empty() {
            return Ok(());
        }
        let labels: Vec<_> = statuses
            .iter()
            .map(|s| ResourceLabels {
                resource: s.resource,
            })
            .collect();
        let mut family = encoder.encode_descriptor(
            "cluster_cache_synced",
            "1 once the watch of this resource has listed it, else 0",
            None,
            MetricType::Gauge,
        )?;
        for (status, labels) in statuses.iter().zip(&labels) {
            ConstGauge::new(i64::from(status.synced)).encode(family.encode_family(labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "cluster_watch_restarts",
            "Watch failures of this resource since start; each is retried with backoff",
            None,
            MetricType::Counter,
        )?;
        for (status, labels) in statuses.iter().zip(&labels) {
            ConstCounter::new(status.watch_restarts).encode(family.encode_family(labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "cluster_cache_age_seconds",
            "Seconds since the last watch event or list of this resource",
            None,
            MetricType::Gauge,
        )?;
        for (status, labels) in statuses.iter().zip(&labels) {
            ConstGauge::new(status.age_seconds).encode(family.encode_family(labels)?)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloudLabels {
    action: &'static str,
    outcome: &'static str,
}

#[derive(Debug)]
struct CloudCollector {
    stats: Arc<crate::cloud::CloudStats>,
}

impl Collector for CloudCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        use crate::cloud::{Action, Outcome};
        let mut family = encoder.encode_descriptor(
            "cloud_calls",
            "Tencent Cloud API calls by action and outcome (found, not_found, auth_error, error, timeout)",
            None,
            MetricType::Counter,
        )?;
        for action in Action::ALL {
            for outcome in Outcome::ALL {
                let labels = CloudLabels {
                    action: action.as_str(),
                    outcome: outcome.as_str(),
                };
                ConstCounter::new(self.stats.calls(action, outcome))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        let family = encoder.encode_descriptor(
            "cloud_cache_hits",
            "Certificate and CLB look-ups answered from the cloud cache",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(self.stats.cache_hits()).encode(family)?;
        Ok(())
    }
}

// The audit's findings (live mode, audit on). Labels are rule ids and severities: bounded by the
// catalogue, never by Ingress names.

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuditLabels {
    rule: &'static str,
    severity: &'static str,
}

struct AuditCollector {
    auditor: Arc<Auditor>,
}

impl std::fmt::Debug for AuditCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditCollector")
    }
}

impl Collector for AuditCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let ingresses = self.auditor.ingresses();
        let family = encoder.encode_descriptor(
            "audit_ingresses",
            "qcloud Ingresses the background audit has judged",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::try_from(ingresses).unwrap_or(i64::MAX)).encode(family)?;
        let mut family = encoder.encode_descriptor(
            "audit_findings",
            "Findings on the cluster's Ingresses as they stand, by rule and severity",
            None,
            MetricType::Gauge,
        )?;
        for ((rule, severity), count) in self.auditor.counts() {
            let labels = AuditLabels { rule, severity };
            ConstGauge::new(i64::try_from(count).unwrap_or(i64::MAX))
                .encode(family.encode_family(&labels)?)?;
        }
        if let Some(leads) = self.auditor.leads() {
            let family = encoder.encode_descriptor(
                "audit_lease_held",
                "1 while this replica holds the audit Lease and runs the audit, else 0",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(i64::from(leads)).encode(family)?;
        }
        if let Some(seconds) = self.auditor.last_pass_seconds() {
            let family = encoder.encode_descriptor(
                "audit_last_pass_timestamp_seconds",
                "When the audit last judged every Ingress that needed it (Unix time)",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(i64::try_from(seconds).unwrap_or(i64::MAX)).encode(family)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviews_and_latency_show_up_with_bounded_labels() {
        let m = Metrics::new();
        m.observe_review(
            ReviewLabels {
                endpoint: "validate",
                operation: "CREATE",
                decision: "denied",
            },
            Duration::from_millis(3),
        );
        m.observe_finding("host-grammar", "deny");
        m.observe_skipped("https-only");
        m.cert_reload_failed();
        let text = m.encode();
        assert!(
            text.contains(
                r#"qcloud_ingress_webhook_reviews_total{endpoint="validate",operation="CREATE",decision="denied"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"qcloud_ingress_webhook_review_duration_seconds_bucket{le="0.005",endpoint="validate"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"le="25.0""#), "{text}");
        assert!(
            text.contains("qcloud_ingress_webhook_tls_reload_errors_total 1"),
            "{text}"
        );
        assert!(
            text.contains(
                r#"qcloud_ingress_webhook_findings_total{rule="host-grammar",severity="deny"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"qcloud_ingress_webhook_findings_skipped_total{rule="https-only"} 1"#),
            "{text}"
        );
    }

    struct CachedView;

    impl ClusterView for CachedView {
        fn is_ready(&self) -> bool {
            true
        }

        fn lookup(&self, _request: crate::cluster::LookupRequest) -> crate::cluster::LookupFuture {
            // Metrics never look anything up; an empty state will do.
            Box::pin(async {
                let empty: Arc<dyn crate::cluster::ClusterLookup> =
                    Arc::new(crate::cluster::ClusterState::default());
                empty
            })
        }

        fn cache_status(&self) -> Vec<crate::cluster::CacheStatus> {
            vec![crate::cluster::CacheStatus {
                resource: "services",
                synced: true,
                watch_restarts: 3,
                age_seconds: 1.5,
            }]
        }
    }

    #[test]
    fn cluster_cache_health_is_read_at_scrape_time() {
        let mut m = Metrics::new();
        m.watch_cluster(Arc::new(CachedView));
        let text = m.encode();
        for line in [
            r#"qcloud_ingress_webhook_cluster_cache_synced{resource="services"} 1"#,
            r#"qcloud_ingress_webhook_cluster_watch_restarts_total{resource="services"} 3"#,
            r#"qcloud_ingress_webhook_cluster_cache_age_seconds{resource="services"} 1.5"#,
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn offline_views_add_no_cluster_metrics() {
        let mut m = Metrics::new();
        m.watch_cluster(Arc::new(crate::cluster::offline::OfflineCluster::default()));
        assert!(!m.encode().contains("cluster_"), "{}", m.encode());
    }
}
