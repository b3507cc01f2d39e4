//! The read-only cluster view the rules consult: Services, the certificate ids of Secrets, and the
//! other Ingresses that share a CLB.
//!
//! Rules are synchronous and pure, so they read a [`ClusterLookup`]. A [`ClusterView`] hands one out
//! per review; it may first fetch what is read on demand (Secrets, in live mode) within the
//! review's deadline. The offline view ([`offline::OfflineCluster`]) is built from YAML files;
//! the live view ([`live::LiveCluster`]) from kube-rs watches and on-demand Secret reads.

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

pub use confirm::{Confirmed, Reads, Recording};
pub use summary::{IngressSummary, Route, SecretCertIds, ServicePortSummary, ServiceSummary};

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

/// A plain in-memory cluster state; the offline view and tests use it directly.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    pub services: HashMap<(String, String), ServiceSummary>,
    pub secrets: HashMap<(String, String), SecretCertIds>,
    pub ingresses: HashMap<(String, String), Arc<IngressSummary>>,
    /// lb id → keys of the Ingresses on it; kept in step with `ingresses`.
    lb_index: HashMap<String, Vec<(String, String)>>,
    /// lb id → keys of the Services bound to it; kept in step with `services`.
    service_lb_index: HashMap<String, Vec<(String, String)>>,
}

impl ClusterState {
    /// Adds or replaces a Service and keeps the CLB index current.
    pub fn insert_service(&mut self, namespace: &str, name: &str, service: ServiceSummary) {
        self.remove_service(namespace, name);
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(lb) = &service.existed_lb_id {
            add_key(&mut self.service_lb_index, lb, key.clone());
        }
        self.services.insert(key, service);
    }

    pub fn remove_service(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(lb) = self.services.remove(&key).and_then(|s| s.existed_lb_id) {
            remove_key(&mut self.service_lb_index, &lb, &key);
        }
    }

    /// The qcloud Ingresses in `namespace` whose backends include Service `name`.
    pub fn ingresses_using(&self, namespace: &str, name: &str) -> Vec<(String, String)> {
        self.ingresses
            .iter()
            .filter(|((ns, _), i)| ns == namespace && i.backends.iter().any(|b| b == name))
            .map(|(key, _)| key.clone())
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
        self.secrets
            .insert((namespace.to_owned(), name.to_owned()), secret);
    }

    /// Adds or replaces an Ingress and keeps the CLB index current.
    pub fn insert_ingress(&mut self, summary: IngressSummary) {
        let key = (summary.namespace.clone(), summary.name.clone());
        self.remove_ingress(&key.0, &key.1);
        for lb in lb_ids(&summary) {
            add_key(&mut self.lb_index, lb, key.clone());
        }
        self.ingresses.insert(key, Arc::new(summary));
    }

    pub fn remove_ingress(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(old) = self.ingresses.remove(&key) {
            for lb in lb_ids(&old) {
                remove_key(&mut self.lb_index, lb, &key);
            }
        }
    }
}

type LbIndex = HashMap<String, Vec<(String, String)>>;

fn add_key(index: &mut LbIndex, lb: &str, key: (String, String)) {
    index.entry(lb.to_owned()).or_default().push(key);
}

fn remove_key(index: &mut LbIndex, lb: &str, key: &(String, String)) {
    if let Some(keys) = index.get_mut(lb) {
        keys.retain(|k| k != key);
        if keys.is_empty() {
            index.remove(lb);
        }
    }
}

fn lb_ids(summary: &IngressSummary) -> impl Iterator<Item = &str> {
    let exist = summary.exist_lb_id.as_deref();
    let owned = summary.lb_id.as_deref().filter(|id| Some(*id) != exist);
    exist.into_iter().chain(owned)
}

impl ClusterLookup for ClusterState {
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceSummary> {
        self.services
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    fn secret(&self, namespace: &str, name: &str) -> SecretLookup {
        match self.secrets.get(&(namespace.to_owned(), name.to_owned())) {
            Some(ids) => SecretLookup::Found(ids.clone()),
            None => SecretLookup::NotFound,
        }
    }

    fn ingresses_on_lb(&self, lb_id: &str) -> Vec<Arc<IngressSummary>> {
        self.lb_index
            .get(lb_id)
            .into_iter()
            .flatten()
            .filter_map(|key| self.ingresses.get(key).cloned())
            .collect()
    }

    fn services_on_lb(&self, lb_id: &str) -> Vec<(String, String)> {
        self.service_lb_index
            .get(lb_id)
            .cloned()
            .unwrap_or_default()
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
