//! The live cluster view: Services and Ingresses from kube-rs watches, Secrets read on demand.
//!
//! - `watch`: one watcher per kind, cluster-wide, folding events into a shared [`ClusterState`]
//!   of small summaries (the full objects, `managedFields` and all, are dropped on arrival);
//! - `secrets`: `GET` of named Secrets within the review's deadline, with a short positive cache.
//!
//! The shared state sits behind an `RwLock` that is held only to apply one event, to swap in a
//! re-listed map, or to answer one look-up, so neither side waits on the other for long; a
//! copy-on-write `ArcSwap` would cost a copy of the whole state per event instead.

pub mod access;
mod confirm;
mod feed;
mod secrets;
mod watch;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::{
    CacheStatus, ClusterLookup, ClusterState, ClusterView, ConfirmFuture, IngressSummary,
    LookupFuture, LookupRequest, Reads, SecretLookup, ServiceSummary,
};
pub use feed::{AuditFeed, SharedKey};
pub use secrets::MAX_SECRETS_PER_REVIEW;
use secrets::SecretReader;

/// Tuning of the live view.
#[derive(Debug, Clone, Copy)]
pub struct LiveConfig {
    /// How long a Secret that was found is reused without asking again. Missing Secrets are never
    /// cached, so one created just before its Ingress is found.
    pub secret_ttl: Duration,
    /// Longest wait for Secret reads in one review (the review's own deadline also applies).
    pub secret_timeout: Duration,
    /// Keep each qcloud Ingress (without what no rule reads) for the audit pass.
    pub keep_ingresses: bool,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            secret_ttl: Duration::from_secs(30),
            secret_timeout: Duration::from_secs(2),
            keep_ingresses: false,
        }
    }
}

/// Builds a kube client from `kubeconfig` (and `context`), else from `KUBECONFIG`, else from the
/// in-cluster service account.
pub async fn client(
    kubeconfig: Option<&Path>,
    context: Option<String>,
) -> anyhow::Result<kube::Client> {
    Ok(kube::Client::try_from(config(kubeconfig, context).await?)?)
}

/// The client configuration [`client`] builds on: the kubeconfig file, or the default one with
/// `context`, or the in-cluster service account.
pub async fn config(
    kubeconfig: Option<&Path>,
    context: Option<String>,
) -> anyhow::Result<kube::Config> {
    let options = KubeConfigOptions {
        context,
        ..KubeConfigOptions::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            kube::Config::from_custom_kubeconfig(Kubeconfig::read_from(path)?, &options).await?
        }
        None if options.context.is_some() => kube::Config::from_kubeconfig(&options).await?,
        None => kube::Config::infer().await?,
    };
    Ok(config)
}

/// The cluster view of a running webhook. Dropping it stops its watches.
pub struct LiveCluster {
    shared: Arc<Shared>,
    secrets: Arc<SecretReader>,
    client: kube::Client,
    watches: Vec<tokio::task::AbortHandle>,
}

impl LiveCluster {
    /// Starts the Service and Ingress watches on the current tokio runtime.
    pub fn start(client: kube::Client, config: LiveConfig) -> Self {
        let shared = Arc::new(Shared {
            feed: config.keep_ingresses.then(Arc::default),
            ..Shared::default()
        });
        let watches = vec![
            tokio::spawn(watch::run::<Service>(
                kube::Api::all(client.clone()),
                shared.clone(),
            ))
            .abort_handle(),
            tokio::spawn(watch::run::<Ingress>(
                kube::Api::all(client.clone()),
                shared.clone(),
            ))
            .abort_handle(),
        ];
        let secrets = Arc::new(SecretReader::new(client.clone(), config));
        Self {
            shared,
            secrets,
            client,
            watches,
        }
    }
}

impl LiveCluster {
    /// The Ingresses kept for the audit pass, when [`LiveConfig::keep_ingresses`] is on.
    pub fn audit_feed(&self) -> Option<Arc<AuditFeed>> {
        self.shared.feed.clone()
    }

    /// The qcloud Ingresses whose backends include Service `namespace/name`.
    pub fn ingresses_using(&self, namespace: &str, name: &str) -> Vec<(String, String)> {
        self.shared.read().ingresses_using(namespace, name)
    }
}

impl Drop for LiveCluster {
    fn drop(&mut self) {
        for watch in &self.watches {
            watch.abort();
        }
    }
}

impl ClusterView for LiveCluster {
    fn is_ready(&self) -> bool {
        self.shared.services.is_listed() && self.shared.ingresses.is_listed()
    }

    fn lookup(&self, request: LookupRequest) -> LookupFuture {
        let shared = self.shared.clone();
        let reader = self.secrets.clone();
        Box::pin(async move {
            let secrets = reader
                .read_all(&request.namespace, &request.secret_names, request.deadline)
                .await;
            let lookup: Arc<dyn ClusterLookup> = Arc::new(LiveLookup {
                shared,
                namespace: request.namespace,
                secrets,
            });
            lookup
        })
    }

    fn confirms(&self) -> bool {
        true
    }

    fn confirm(&self, reads: Reads, deadline: Instant) -> ConfirmFuture {
        let (client, shared) = (self.client.clone(), self.shared.clone());
        Box::pin(async move { Some(confirm::confirm(client, shared, reads, deadline).await) })
    }

    fn cache_status(&self) -> Vec<CacheStatus> {
        let shared = &self.shared;
        vec![
            shared.services.status("services", shared.started),
            shared.ingresses.status("ingresses", shared.started),
        ]
    }
}

/// What the watch tasks write and the look-ups read.
#[derive(Debug)]
struct Shared {
    state: RwLock<ClusterState>,
    services: WatchHealth,
    ingresses: WatchHealth,
    /// Origin of the millisecond clocks in [`WatchHealth`].
    started: Instant,
    /// The audit pass's objects and change marks, when the audit is on.
    feed: Option<Arc<AuditFeed>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            state: RwLock::default(),
            services: WatchHealth::default(),
            ingresses: WatchHealth::default(),
            started: Instant::now(),
            feed: None,
        }
    }
}

impl Shared {
    // A writer cannot leave the maps half-updated (each write is one map operation or a swap),
    // so a poisoned lock still holds a usable state.
    fn read(&self) -> RwLockReadGuard<'_, ClusterState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, ClusterState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sync state of one watch, kept in atomics so metrics and readiness never take a lock.
#[derive(Debug, Default)]
struct WatchHealth {
    listed: AtomicBool,
    restarts: AtomicU64,
    /// Milliseconds after [`Shared::started`] of the last event or completed list.
    last_event_ms: AtomicU64,
}

impl WatchHealth {
    fn is_listed(&self) -> bool {
        self.listed.load(Ordering::SeqCst)
    }

    fn mark_listed(&self, started: Instant) {
        self.listed.store(true, Ordering::SeqCst);
        self.touch(started);
    }

    fn touch(&self, started: Instant) {
        let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_event_ms.store(elapsed, Ordering::SeqCst);
    }

    fn restarted(&self) {
        self.restarts.fetch_add(1, Ordering::SeqCst);
    }

    fn status(&self, resource: &'static str, started: Instant) -> CacheStatus {
        let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let since_ms = now_ms.saturating_sub(self.last_event_ms.load(Ordering::SeqCst));
        CacheStatus {
            resource,
            synced: self.is_listed(),
            watch_restarts: self.restarts.load(Ordering::SeqCst),
            #[allow(
                clippy::cast_precision_loss,
                reason = "seconds of age need no 53-bit precision"
            )]
            age_seconds: since_ms as f64 / 1000.0,
        }
    }
}

/// One review's view: the shared caches plus the Secrets fetched for it.
struct LiveLookup {
    shared: Arc<Shared>,
    namespace: String,
    secrets: HashMap<String, SecretLookup>,
}

impl ClusterLookup for LiveLookup {
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceSummary> {
        self.shared.read().service(namespace, name)
    }

    fn secret(&self, namespace: &str, name: &str) -> SecretLookup {
        let fetched = (namespace == self.namespace)
            .then(|| self.secrets.get(name).cloned())
            .flatten();
        fetched.unwrap_or_else(|| {
            SecretLookup::Unavailable("the Secret was not read for this review".to_owned())
        })
    }

    fn ingresses_on_lb(&self, lb_id: &str) -> Vec<Arc<IngressSummary>> {
        self.shared.read().ingresses_on_lb(lb_id)
    }

    fn services_on_lb(&self, lb_id: &str) -> Vec<(String, String)> {
        self.shared.read().services_on_lb(lb_id)
    }
}
