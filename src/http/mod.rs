//! The HTTP layer: TLS listener, admin listener, AdmissionReview envelopes, metrics and logs.
//!
//! - [`server`]: the HTTPS server's configuration, binding and running its parts together;
//! - [`router`]: the webhook routes, body reading and the `?timeout=` budget;
//! - [`accept`]: the accept loop (TLS handshake, hyper connection serving);
//! - [`slots`]: connection slots that idle clients cannot keep (caps, eviction);
//! - [`body`]: request bodies under a shared memory budget and a rate floor;
//! - [`refusals`]: counts and rate-limited logs of what those defences refuse;
//! - [`shutdown`]: signals, the endpoint-update delay and the drain;
//! - [`admin`]: plain-HTTP `/healthz`, `/readyz`, `/metrics` and `/audit`;
//! - [`review`]: answering one AdmissionReview, free of HTTP types;
//! - [`envelope`]: our AdmissionReview request/response types;
//! - [`tls`]: the hot-swappable serving certificate;
//! - [`authority`]: readiness and metrics of the self-managed certificate authority;
//! - [`conn`]: per-connection read deadlines (first request, slow headers, idle keep-alive);
//! - [`metrics`], [`logging`].

pub mod accept;
pub mod admin;
pub mod authority;
pub mod body;
pub mod conn;
pub mod envelope;
pub mod log_line;
pub mod logging;
pub mod metrics;
pub mod refusals;
pub mod review;
pub mod router;
pub mod server;
pub mod shutdown;
pub mod slots;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::audit::live::Auditor;
use crate::cluster::ClusterView;
use crate::rules::Engine;
pub use router::router;
pub use server::{Server, ServerConfig};

/// Limits applied to every webhook request. docs/threat-model.md explains the defaults.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Larger bodies get HTTP 413. Default 6 MiB: an UPDATE review carries the object and the
    /// old object, and the API server accepts objects of up to 3 MiB of JSON (twice etcd's
    /// 1.5 MiB request limit, for JSON's overhead over the stored protobuf).
    pub max_body_bytes: usize,
    /// Upper bound for one request, body read included; also the budget when the API server
    /// sends no `?timeout=`.
    pub request_timeout: Duration,
    /// Memory that requests in progress may hold in all: what [`Limits::reservation`] reserves
    /// for each body (see [`body`]). Default 80 MiB, about the chart's share (32 %) of its
    /// 256 MiB memory limit; three quarters of it take the largest legal review.
    pub request_memory_budget: usize,
    /// Memory a review takes per byte of its body, reserved from the budget. Measured by
    /// `tests/review_memory.rs` (peak heap over the body, every legal shape, both endpoints):
    /// at most 6.5x, for many small paths on `/validate`.
    pub review_memory_factor: usize,
    /// Memory per byte of annotation text on top: JSON annotations (`http-rules` and the like)
    /// are parsed into a value tree and checked against their schema, up to 19x. The API server
    /// holds annotations to 256 KiB in all, so this is reserved for at most that much of a body.
    pub annotation_memory_factor: usize,
    /// How long a request waits for room in the memory budget before it is refused.
    pub memory_wait: Duration,
    /// Slowest a body may arrive, in bytes per second (0: no floor).
    pub body_min_rate: u64,
    /// Longest a body may pause, and the most time it can bank ahead by arriving fast.
    pub body_max_pause: Duration,
    /// Longest a review waits for the API server to confirm the cached facts a deny rests on;
    /// then the cache answers. Never past the review's own deadline.
    pub confirm_budget: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 6 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            request_memory_budget: 80 * 1024 * 1024,
            review_memory_factor: 8,
            annotation_memory_factor: 20,
            memory_wait: Duration::from_secs(1),
            body_min_rate: 64 * 1024,
            body_max_pause: Duration::from_secs(2),
            confirm_budget: crate::drive::DEFAULT_CONFIRM_BUDGET,
        }
    }
}

/// The API server's cap on all of an object's annotations together (`TotalAnnotationSizeLimitB`
/// in k8s.io/apimachinery's ValidateAnnotations).
pub const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

impl Limits {
    /// Memory reserved for reviewing a body of `bytes`: its object model, plus the parsing of
    /// the annotation JSON that a body of that size can carry.
    pub fn reservation(&self, bytes: usize) -> usize {
        bytes
            .saturating_mul(self.review_memory_factor.max(1))
            .saturating_add(
                bytes
                    .min(MAX_ANNOTATION_BYTES)
                    .saturating_mul(self.annotation_memory_factor),
            )
    }

    /// The largest body whose reservation is at most `memory`.
    pub fn largest_body_within(&self, memory: usize) -> usize {
        let (mut low, mut high) = (0, self.max_body_bytes);
        while low < high {
            let middle = low + (high - low).div_ceil(2);
            if self.reservation(middle) <= memory {
                low = middle;
            } else {
                high = middle - 1;
            }
        }
        low
    }
}

/// What `/readyz` reports on, besides the cluster view.
#[derive(Debug, Default)]
pub struct Readiness {
    tls_bound: AtomicBool,
    shutting_down: AtomicBool,
}

impl Readiness {
    pub fn set_tls_bound(&self) {
        self.tls_bound.store(true, Ordering::SeqCst);
    }

    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// `None` when ready, else why not.
    pub fn not_ready_reason(&self, cluster: &dyn ClusterView) -> Option<&'static str> {
        if self.is_shutting_down() {
            Some("shutting down")
        } else if !self.tls_bound.load(Ordering::SeqCst) {
            Some("TLS listener not bound yet")
        } else if !cluster.is_ready() {
            Some("cluster view not synced yet")
        } else {
            None
        }
    }
}

/// Everything a request handler needs. Holding an [`Engine`] means the schemas compiled.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub cluster: Arc<dyn ClusterView>,
    pub metrics: Arc<metrics::Metrics>,
    pub readiness: Arc<Readiness>,
    pub limits: Limits,
    /// The background audit (live `serve` with `--audit-interval` above 0).
    pub audit: Option<Arc<Auditor>>,
    /// Who may read the audit's report on `/audit`: it lists every qcloud Ingress's findings
    /// (Service and Secret names), so only a bearer token RBAC allows `get` on `/audit`. Without
    /// it the report is not served.
    pub audit_access: Option<Arc<crate::cluster::live::access::AccessReviewer>>,
    /// The request memory budget all connections share.
    pub memory: Arc<body::MemoryBudget>,
    /// Tencent Cloud look-ups (`--cloud`); `None`: cloud checks off, no call, no credentials.
    pub cloud: Option<Arc<crate::cloud::CloudClient>>,
    /// The self-managed certificate authority (`--self-managed-certs`): `/readyz` waits for it.
    pub authority: Option<Arc<authority::AuthorityStatus>>,
}

impl AppState {
    pub fn new(engine: Arc<Engine>, cluster: Arc<dyn ClusterView>, limits: Limits) -> Self {
        Self::build(engine, cluster, limits, None)
    }

    /// The same, with the audit's findings as gauges on `/metrics` (and on `/audit` with
    /// [`AppState::with_audit_access`]).
    #[must_use]
    pub fn with_audit(self, auditor: Option<Arc<Auditor>>) -> Self {
        let cloud = self.cloud;
        Self::build(self.engine, self.cluster, self.limits, auditor).with_cloud(cloud)
    }

    /// Serves the audit's report on `/audit` to callers `access` allows.
    #[must_use]
    pub fn with_audit_access(
        mut self,
        access: Option<Arc<crate::cluster::live::access::AccessReviewer>>,
    ) -> Self {
        self.audit_access = access;
        self
    }

    /// Turns the cloud checks on with `client` (and its metrics).
    #[must_use]
    pub fn with_cloud(mut self, client: Option<Arc<crate::cloud::CloudClient>>) -> Self {
        // Called while building the state, before the metrics are shared.
        if let Some(client) = &client
            && let Some(metrics) = Arc::get_mut(&mut self.metrics)
        {
            metrics.watch_cloud(client.stats());
        }
        self.cloud = client;
        self
    }

    /// Serves with a self-managed certificate authority: `/readyz` waits until it serves a
    /// certificate whose CA is in `caBundle`, and `/metrics` shows its state.
    #[must_use]
    pub fn with_authority(mut self, status: Arc<authority::AuthorityStatus>) -> Self {
        if let Some(metrics) = Arc::get_mut(&mut self.metrics) {
            metrics.watch_authority(status.clone());
        } else {
            tracing::warn!("metrics already shared; the certificate authority's are not exposed");
        }
        self.authority = Some(status);
        self
    }

    fn build(
        engine: Arc<Engine>,
        cluster: Arc<dyn ClusterView>,
        limits: Limits,
        audit: Option<Arc<Auditor>>,
    ) -> Self {
        let mut metrics = metrics::Metrics::new();
        metrics.watch_cluster(cluster.clone());
        if let Some(auditor) = &audit {
            metrics.watch_audit(auditor.clone());
        }
        let memory =
            body::MemoryBudget::new(limits.request_memory_budget, Some(metrics.refusals.clone()));
        Self {
            engine,
            cluster,
            metrics: Arc::new(metrics),
            readiness: Arc::new(Readiness::default()),
            limits,
            audit,
            audit_access: None,
            memory,
            cloud: None,
            authority: None,
        }
    }
}
