//! The live cluster view: Services and Ingresses from kube-rs watches, Secrets read on demand.
//!
//! - `watch`: one watcher per kind, cluster-wide, folding events into a shared [`ClusterState`]
//!   of small summaries (the full objects, `managedFields` and all, are dropped on arrival); both
//!   run on a thread of their own ([`WATCH_THREAD`]), not on the runtime that answers reviews;
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
    /// Dropped with the view: the watch thread's runtime then stops, and its tasks with it.
    _watches: tokio::sync::oneshot::Sender<()>,
}

/// The name of the thread the Service and Ingress watches run on.
pub const WATCH_THREAD: &str = "live-watches";

/// The watch thread's niceness: under the kernel's fair scheduler a thread at 10 gets about a
/// tenth of the CPU a review's thread (at 0) gets while both want it, so a review that arrives
/// during a re-list is run ahead of the page being decoded instead of beside it.
pub const WATCH_NICENESS: i32 = 10;

/// Gives the calling thread [`WATCH_NICENESS`]. Lowering one's own priority needs no privilege;
/// if it fails anyway the watches run at the default priority, as before.
fn yield_to_reviews() {
    #[cfg(target_os = "linux")]
    if let Err(error) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), WATCH_NICENESS)
    {
        tracing::warn!(%error, "could not lower the watch thread's priority");
    }
}

impl LiveCluster {
    /// Starts the Service and Ingress watches on a thread of their own ([`WATCH_THREAD`]), with
    /// a current-thread tokio runtime.
    ///
    /// A re-list decodes pages of 500 objects (~1.3 MB with `managedFields`) and folds them into
    /// the state; on the runtime that answers reviews (one worker when the webhook has one CPU) a
    /// review would wait behind each page. On their own thread the kernel's scheduler can run a
    /// review between two slices of a page, even on one CPU. The client's request buffer stays
    /// on the runtime that made the client; the watches' requests, their responses and the
    /// decoding run on the watch thread.
    ///
    /// # Errors
    /// The watches' runtime or thread could not be created.
    pub fn start(client: kube::Client, config: LiveConfig) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            feed: config.keep_ingresses.then(Arc::default),
            ..Shared::default()
        });
        let services = watch::run::<Service>(kube::Api::all(client.clone()), shared.clone());
        let ingresses = watch::run::<Ingress>(kube::Api::all(client.clone()), shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // The runtime is built (and dropped) on its own thread: a runtime dropped within the
        // caller's would panic. Its build error comes back before `start` returns.
        let (built, built_rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(WATCH_THREAD.to_owned())
            .spawn(move || {
                yield_to_reviews();
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = built.send(Err(error));
                        return;
                    }
                };
                let _ = built.send(Ok(()));
                runtime.block_on(async move {
                    tokio::spawn(services);
                    tokio::spawn(ingresses);
                    // Err once the view is dropped (the sender with it): leaving drops the
                    // runtime, which cancels both watches.
                    let _ = stopped.await;
                });
            })?;
        built_rx.recv().map_err(|_| {
            std::io::Error::other("the watch thread ended before its runtime was built")
        })??;
        let secrets = Arc::new(SecretReader::new(client.clone(), config));
        Ok(Self {
            shared,
            secrets,
            client,
            _watches: stop,
        })
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::{Duration, Instant};

    use super::{LiveCluster, LiveConfig, WATCH_NICENESS, WATCH_THREAD};
    use crate::cluster::ClusterView as _;

    /// Each request the API server got: the name of the thread that polled it, and whether it
    /// was a watch (else a list).
    type Seen = Arc<Mutex<Vec<(Option<String>, bool, i32)>>>;

    /// A kube client whose API server answers every list with no items and keeps every watch
    /// open; `open` is held by each open watch. A response is polled (and a list decoded) by
    /// the task that sent the request, so the thread seen is the watch's.
    fn client(seen: Seen, open: Arc<()>) -> kube::Client {
        let service = tower::service_fn(move |request: hyper::Request<kube::client::Body>| {
            let (seen, open) = (seen.clone(), open.clone());
            async move {
                let watch = request
                    .uri()
                    .query()
                    .is_some_and(|q| q.contains("watch=true"));
                let thread = std::thread::current().name().map(str::to_owned);
                seen.lock().unwrap_or_else(PoisonError::into_inner).push((
                    thread,
                    watch,
                    niceness(),
                ));
                if watch {
                    std::future::pending::<()>().await;
                    // Held until the watch is dropped.
                    drop(open);
                }
                let kind = if request.uri().path().ends_with("/ingresses") {
                    "IngressList"
                } else {
                    "ServiceList"
                };
                let list = format!(
                    r#"{{"apiVersion":"v1","kind":"{kind}","metadata":{{"resourceVersion":"1"}},"items":[]}}"#
                );
                Ok::<_, std::convert::Infallible>(hyper::Response::new(kube::client::Body::from(
                    list.into_bytes(),
                )))
            }
        });
        kube::Client::new(service, "default")
    }

    async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
        let give_up = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < give_up, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The calling thread's niceness.
    fn niceness() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
    }

    /// A re-list's pages are decoded where the watches run: on the runtime that answers reviews
    /// they would hold each review up behind a page, and beside it at the same priority they
    /// would share the CPU with it (issue #30).
    #[tokio::test]
    async fn the_watches_run_on_their_own_thread_and_stop_with_the_view() {
        let (seen, open) = (Seen::default(), Arc::new(()));
        let view =
            LiveCluster::start(client(seen.clone(), open.clone()), LiveConfig::default()).unwrap();
        eventually("both kinds are listed", || view.is_ready()).await;
        // Held here, by the API server's closure and by the two open watches.
        eventually("both watches are open", || Arc::strong_count(&open) == 4).await;

        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen.iter().filter(|(_, watch, _)| !watch).count(),
            2,
            "{seen:?}"
        );
        assert!(
            seen.iter().all(|(_, _, nice)| *nice == WATCH_NICENESS),
            "the watches run at niceness {WATCH_NICENESS}, the caller at {}: {seen:?}",
            niceness()
        );
        assert_eq!(niceness(), 0, "the caller's thread keeps its priority");
        assert!(
            seen.iter()
                .all(|(thread, _, _)| thread.as_deref() == Some(WATCH_THREAD)),
            "every request of the watches is polled on {WATCH_THREAD}, not on the caller's \
             runtime ({:?}): {seen:?}",
            std::thread::current().name()
        );

        // With the view go its watches and the client, the closure with it.
        drop(view);
        eventually("the watches stop with the view", || {
            Arc::strong_count(&open) == 1
        })
        .await;
    }
}
