//! The read-only cluster view the rules consult: Services, the certificate ids of Secrets, and the
//! other Ingresses that share a CLB.
//!
//! Rules are synchronous and pure, so they read a [`ClusterLookup`]. A [`ClusterView`] hands one out
//! per review; it may first fetch what is read on demand (Secrets, in live mode) within the
//! review's deadline. The offline view ([`offline::OfflineCluster`]) is built from YAML files;
//! the live view ([`live::LiveCluster`]) from kube-rs watches and on-demand Secret reads.

pub(crate) mod by_name;
pub mod cloud;
pub mod confirm;
pub mod live;
pub mod offline;
pub mod state_file;
pub mod summary;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use by_name::{ByName, Interner};
pub use cloud::{CertificateDetail, CloudFacts, CloudLookup, LoadBalancerDetail, Unverified};
pub use confirm::{Confirmed, Reads, Recording};
pub use summary::{IngressSummary, Route, SecretCertIds, ServicePortSummary, ServiceSummary};
use summary::{StoredIngress, StoredService};

/// The answer to "what does Secret ns/name hold?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretLookup {
    Found(SecretCertIds),
    NotFound,
    /// The view could not tell (API server unreachable, deadline passed). Rules warn, never deny.
    Unavailable(String),
}

/// A synchronous, read-only view for one review. Rules only ever see this.
pub trait ClusterLookup: Send + Sync {
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceSummary>;
    fn secret(&self, namespace: &str, name: &str) -> SecretLookup;
    /// Other qcloud Ingresses whose `existLbId` or `qcloud-loadbalance-id` is `lb_id`.
    fn ingresses_on_lb(&self, lb_id: &str) -> Vec<Arc<IngressSummary>>;
    /// `(namespace, name)` of the Services bound to the console CLB `lb_id`
    /// (`service.kubernetes.io/tke-existed-lbid`).
    fn services_on_lb(&self, lb_id: &str) -> Vec<(String, String)>;
    /// False when the view holds only part of the cluster (`check` over some files): an object
    /// it has not got may still exist, so the rules must not conclude that it is missing.
    fn is_complete(&self) -> bool {
        true
    }
}

/// A shared look-up reads as the one it shares (the live view hands out `Arc`s).
impl<T: ClusterLookup + ?Sized> ClusterLookup for Arc<T> {
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceSummary> {
        (**self).service(namespace, name)
    }

    fn secret(&self, namespace: &str, name: &str) -> SecretLookup {
        (**self).secret(namespace, name)
    }

    fn ingresses_on_lb(&self, lb_id: &str) -> Vec<Arc<IngressSummary>> {
        (**self).ingresses_on_lb(lb_id)
    }

    fn services_on_lb(&self, lb_id: &str) -> Vec<(String, String)> {
        (**self).services_on_lb(lb_id)
    }

    fn is_complete(&self) -> bool {
        (**self).is_complete()
    }
}

/// What a review will look up on demand, so the view can fetch it before the rules run.
#[derive(Debug, Clone)]
pub struct LookupRequest {
    pub namespace: String,
    pub secret_names: Vec<String>,
    /// Fetches must finish by then; what is not fetched in time is [`SecretLookup::Unavailable`].
    pub deadline: Instant,
}

pub type LookupFuture = Pin<Box<dyn Future<Output = Arc<dyn ClusterLookup>> + Send>>;

/// The API server's answer about cached objects: `None` when the view keeps no cache to doubt
/// (offline), `Err` when it could not answer in time.
pub type ConfirmFuture = Pin<Box<dyn Future<Output = Option<Result<Confirmed, String>>> + Send>>;

/// A source of [`ClusterLookup`]s: the offline files or the live cluster.
pub trait ClusterView: Send + Sync + 'static {
    /// True once the view can answer (live caches synced).
    fn is_ready(&self) -> bool;
    /// A lookup for one review.
    fn lookup(&self, request: LookupRequest) -> LookupFuture;
    /// Health of the caches behind the view, for metrics; empty when nothing is cached (offline).
    fn cache_status(&self) -> Vec<CacheStatus> {
        Vec::new()
    }
    /// Asks the API server about the cached objects a deny would rest on, by `deadline`.
    fn confirm(&self, _reads: Reads, _deadline: Instant) -> ConfirmFuture {
        Box::pin(std::future::ready(None))
    }
    /// Whether [`ClusterView::confirm`] can doubt anything: only a view with a cache can.
    fn confirms(&self) -> bool {
        false
    }
}

/// Health of one watched resource's cache, read at each metrics scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheStatus {
    /// A fixed resource name (`services`, `ingresses`); a bounded metrics label.
    pub resource: &'static str,
    /// The initial list is done and the watch has not failed since.
    pub synced: bool,
    /// Watch failures and re-lists since start; each restarts the watch.
    pub watch_restarts: u64,
    /// Seconds since the last event or (re-)list; grows while the API server is unreachable.
    pub age_seconds: f64,
}

/// A plain in-memory cluster state; the offline view and tests use it directly, and the live
/// view keeps one behind a lock.
///
/// Stored compactly ([`by_name::ByName`], [`summary::StoredService`],
/// [`summary::StoredIngress`]): a look-up builds no key, and the strings that repeat across
/// objects are shared. The rules still see [`ServiceSummary`] and [`IngressSummary`], made per
/// look-up.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    services: ByName<StoredService>,
    secrets: ByName<SecretCertIds>,
    ingresses: ByName<StoredIngress>,
    /// lb id → the Ingresses on it; kept in step with `ingresses`.
    lb_index: LbIndex,
    /// lb id → the Services bound to it; kept in step with `services`.
    service_lb_index: LbIndex,
    strings: Interner,
    /// Why Secrets cannot be read, when they cannot: every Secret look-up answers
    /// [`SecretLookup::Unavailable`] with it (a state that never read Secrets, or a test of an
    /// API server that does not answer in time).
    secrets_unread: Option<Arc<str>>,
}

/// `(namespace, name)` in the CLB indexes.
type IndexKey = (Arc<str>, Box<str>);
type LbIndex = HashMap<Arc<str>, Vec<IndexKey>>;

impl ClusterState {
    /// An empty state that shares this one's interned strings (for a re-list).
    #[must_use]
    pub fn empty_like(&self) -> Self {
        Self {
            strings: self.strings.clone(),
            ..Self::default()
        }
    }

    /// A state whose Secrets cannot be read, for `reason`: the rules warn that they could not
    /// check a certificate and never deny for it.
    #[must_use]
    pub fn with_secrets_unread(mut self, reason: &str) -> Self {
        self.secrets_unread = Some(reason.into());
        self
    }

    /// How many Services, Secrets and qcloud Ingresses it holds.
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.services.len(),
            self.secrets.len(),
            self.ingresses.len(),
        )
    }

    /// Adds or replaces a Service and keeps the CLB index current.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "callers hand over summaries they made for it; the signature predates the compact store"
    )]
    pub fn insert_service(&mut self, namespace: &str, name: &str, service: ServiceSummary) {
        self.remove_service(namespace, name);
        let stored = StoredService::new(&service, &mut self.strings);
        let ns = self.strings.intern(namespace);
        if let Some(lb) = stored.existed_lb_id() {
            add_key(&mut self.service_lb_index, lb, (ns.clone(), name.into()));
        }
        self.services.insert(ns, name, stored);
    }

    pub fn remove_service(&mut self, namespace: &str, name: &str) {
        if let Some(old) = self.services.remove(namespace, name)
            && let Some(lb) = old.existed_lb_id()
        {
            remove_key(&mut self.service_lb_index, lb, namespace, name);
        }
    }

    /// The qcloud Ingresses in `namespace` whose backends include Service `name`.
    pub fn ingresses_using(&self, namespace: &str, name: &str) -> Vec<(String, String)> {
        self.ingresses
            .in_namespace(namespace)
            .filter(|(_, i)| i.uses_backend(name))
            .map(|(ingress, _)| (namespace.to_owned(), ingress.to_owned()))
            .collect()
    }

    /// Whether the qcloud Ingress `namespace/name` is held.
    pub fn holds_ingress(&self, namespace: &str, name: &str) -> bool {
        self.ingresses.get(namespace, name).is_some()
    }

    /// The CLB ids the Ingress `namespace/name` is on, when it is held.
    pub fn ingress_lb_ids(&self, namespace: &str, name: &str) -> Vec<String> {
        self.ingresses
            .get(namespace, name)
            .into_iter()
            .flat_map(StoredIngress::lb_ids)
            .map(ToString::to_string)
            .collect()
    }

    /// Swaps the Services (and their index) with another state's, for a re-list.
    pub fn swap_services(&mut self, other: &mut ClusterState) {
        std::mem::swap(&mut self.services, &mut other.services);
        std::mem::swap(&mut self.service_lb_index, &mut other.service_lb_index);
    }

    /// Swaps the Ingresses (and their index) with another state's, for a re-list.
    pub fn swap_ingresses(&mut self, other: &mut ClusterState) {
        std::mem::swap(&mut self.ingresses, &mut other.ingresses);
        std::mem::swap(&mut self.lb_index, &mut other.lb_index);
    }

    pub fn insert_secret(&mut self, namespace: &str, name: &str, secret: SecretCertIds) {
        let ns = self.strings.intern(namespace);
        self.secrets.insert(ns, name, secret);
    }

    /// Adds or replaces an Ingress and keeps the CLB index current.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "callers hand over summaries they made for it; the signature predates the compact store"
    )]
    pub fn insert_ingress(&mut self, summary: IngressSummary) {
        let (namespace, name) = (&summary.namespace, &summary.name);
        self.remove_ingress(namespace, name);
        let stored = StoredIngress::new(&summary, &mut self.strings);
        let ns = self.strings.intern(namespace);
        for lb in stored.lb_ids() {
            add_key(&mut self.lb_index, lb, (ns.clone(), name.as_str().into()));
        }
        self.ingresses.insert(ns, name, stored);
    }

    pub fn remove_ingress(&mut self, namespace: &str, name: &str) {
        if let Some(old) = self.ingresses.remove(namespace, name) {
            for lb in old.lb_ids() {
                remove_key(&mut self.lb_index, lb, namespace, name);
            }
        }
    }
}

fn add_key(index: &mut LbIndex, lb: &Arc<str>, key: IndexKey) {
    index.entry(lb.clone()).or_default().push(key);
}

fn remove_key(index: &mut LbIndex, lb: &str, namespace: &str, name: &str) {
    if let Some(keys) = index.get_mut(lb) {
        keys.retain(|(ns, n)| (&**ns, &**n) != (namespace, name));
        if keys.is_empty() {
            index.remove(lb);
        }
    }
}

impl ClusterLookup for ClusterState {
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceSummary> {
        self.services
            .get(namespace, name)
            .map(StoredService::summary)
    }

    fn secret(&self, namespace: &str, name: &str) -> SecretLookup {
        if let Some(reason) = &self.secrets_unread {
            return SecretLookup::Unavailable(reason.to_string());
        }
        match self.secrets.get(namespace, name) {
            Some(ids) => SecretLookup::Found(ids.clone()),
            None => SecretLookup::NotFound,
        }
    }

    fn ingresses_on_lb(&self, lb_id: &str) -> Vec<Arc<IngressSummary>> {
        self.lb_index
            .get(lb_id)
            .into_iter()
            .flatten()
            .filter_map(|(ns, name)| {
                let stored = self.ingresses.get(ns, name)?;
                Some(Arc::new(stored.summary(ns, name)))
            })
            .collect()
    }

    fn services_on_lb(&self, lb_id: &str) -> Vec<(String, String)> {
        self.service_lb_index
            .get(lb_id)
            .into_iter()
            .flatten()
            .map(|(ns, name)| (ns.to_string(), name.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(name: &str, exist: Option<&str>, lb: Option<&str>) -> IngressSummary {
        IngressSummary {
            namespace: "default".into(),
            name: name.into(),
            exist_lb_id: exist.map(Into::into),
            lb_id: lb.map(Into::into),
            ..IngressSummary::default()
        }
    }

    #[test]
    fn lb_index_follows_inserts_replacements_and_removals() {
        let mut state = ClusterState::default();
        state.insert_ingress(summary("a", Some("lb-1"), Some("lb-1")));
        state.insert_ingress(summary("b", None, Some("lb-2")));
        assert_eq!(state.ingresses_on_lb("lb-1").len(), 1);
        assert_eq!(state.ingresses_on_lb("lb-2")[0].name, "b");

        state.insert_ingress(summary("a", Some("lb-2"), None));
        assert!(state.ingresses_on_lb("lb-1").is_empty());
        assert_eq!(state.ingresses_on_lb("lb-2").len(), 2);

        state.remove_ingress("default", "b");
        let names: Vec<_> = state
            .ingresses_on_lb("lb-2")
            .iter()
            .map(|i| i.name.clone())
            .collect();
        assert_eq!(names, ["a"]);
    }

    #[test]
    fn secret_debug_never_shows_data() {
        let ids = SecretCertIds {
            cert_id: Some(b"TKPmsWb3".to_vec()),
            ca_cert_id: None,
        };
        let shown = format!("{ids:?}");
        assert!(!shown.contains("TKPmsWb3"), "{shown}");
        assert!(shown.contains("has_cert_id: true"), "{shown}");
    }
}
