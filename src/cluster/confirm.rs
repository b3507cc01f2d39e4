//! Confirming cached facts before a deny rests on them.
//!
//! The live view answers Service and Ingress questions from watch caches, which trail the API
//! server: a Service created a moment ago is not there yet, an Ingress deleted a moment ago still
//! is. So a review first records what its rules read ([`Recording`]); when the rules would deny on
//! such a fact, the view asks the API server for exactly those objects ([`Confirmed`]), and the
//! rules run again over the cache corrected by the answers ([`Recording::confirmed_by`]). Allowing
//! answers are never delayed by this.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use super::{ClusterLookup, IngressSummary, SecretLookup, ServiceSummary};

/// `(namespace, name)`.
pub type Key = (String, String);

/// The cached objects a review's rules read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// Services asked for by name (found or not).
    pub services: BTreeSet<Key>,
    /// Ingresses the cache said share a CLB.
    pub ingresses: BTreeSet<Key>,
    /// Services the cache said are bound to a CLB.
    pub services_on_lbs: BTreeSet<Key>,
}

impl Reads {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.ingresses.is_empty() && self.services_on_lbs.is_empty()
    }
}

/// What the API server said of the objects read: `None` for one it does not have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confirmed {
    pub services: HashMap<Key, Option<ServiceSummary>>,
    /// Only qcloud Ingresses are summaries; one that changed class is `None`, like a deleted one.
    pub ingresses: HashMap<Key, Option<Arc<IngressSummary>>>,
}

/// The one wrapper over a cached look-up: it records which cached objects the rules read (what a
/// deny would rest on), and once the API server has answered ([`Recording::confirmed_by`]) reads
/// its answers in place of the cached copies.
pub struct Recording<'a> {
    cache: &'a dyn ClusterLookup,
    confirmed: Option<&'a Confirmed>,
    reads: Mutex<Reads>,
}

impl<'a> Recording<'a> {
    pub fn new(cache: &'a dyn ClusterLookup) -> Self {
        Self {
            cache,
            confirmed: None,
            reads: Mutex::default(),
        }
    }

    /// The same cache, corrected by the API server's answers.
    #[must_use]
    pub fn confirmed_by(cache: &'a dyn ClusterLookup, confirmed: &'a Confirmed) -> Self {
        Self {
            confirmed: Some(confirmed),
            ..Self::new(cache)
        }
    }

    pub fn into_reads(self) -> Reads {
        self.reads
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, add: impl FnOnce(&mut Reads)) {
        add(&mut self.reads.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// The API server's answer about one Service, when it gave one.
    fn confirmed_service(&self, key: &Key) -> Option<&Option<ServiceSummary>> {
        self.confirmed?.services.get(key)
    }

    /// The API server's answer about one Ingress, when it gave one.
    fn confirmed_ingress(&self, key: &Key) -> Option<&Option<Arc<IngressSummary>>> {
        self.confirmed?.ingresses.get(key)
    }
}

fn key(namespace: &str, name: &str) -> Key {
    (namespace.to_owned(), name.to_owned())
}

impl ClusterLookup for Recording<'_> {
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceSummary> {
        let key = key(namespace, name);
        let answer = match self.confirmed_service(&key) {
            Some(answer) => answer.clone(),
            None => self.cache.service(namespace, name),
        };
        self.record(|r| {
            r.services.insert(key);
        });
        answer
    }

    fn secret(&self, namespace: &str, name: &str) -> SecretLookup {
        // Secrets are read from the API server for each review, never from a cache.
        self.cache.secret(namespace, name)
    }

    fn ingresses_on_lb(&self, lb_id: &str) -> Vec<Arc<IngressSummary>> {
        let on_lb = |i: &IngressSummary| {
            i.exist_lb_id.as_deref() == Some(lb_id) || i.lb_id.as_deref() == Some(lb_id)
        };
        let found: Vec<Arc<IngressSummary>> = self
            .cache
            .ingresses_on_lb(lb_id)
            .into_iter()
            .filter_map(|cached| {
                match self.confirmed_ingress(&key(&cached.namespace, &cached.name)) {
                    Some(Some(answer)) => on_lb(answer).then(|| answer.clone()),
                    Some(None) => None,
                    None => Some(cached),
                }
            })
            .collect();
        self.record(|r| {
            r.ingresses
                .extend(found.iter().map(|i| key(&i.namespace, &i.name)));
        });
        found
    }

    fn services_on_lb(&self, lb_id: &str) -> Vec<(String, String)> {
        let found: Vec<Key> = self
            .cache
            .services_on_lb(lb_id)
            .into_iter()
            .filter(|k| match self.confirmed_service(k) {
                Some(Some(answer)) => answer.existed_lb_id.as_deref() == Some(lb_id),
                Some(None) => false,
                None => true,
            })
            .collect();
        self.record(|r| r.services_on_lbs.extend(found.iter().cloned()));
        found
    }

    fn is_complete(&self) -> bool {
        self.cache.is_complete()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ClusterState;

    fn on_lb(name: &str) -> IngressSummary {
        IngressSummary {
            namespace: "shop".into(),
            name: name.into(),
            exist_lb_id: Some("lb-12345678".into()),
            ..IngressSummary::default()
        }
    }

    #[test]
    fn a_recording_names_what_was_read() {
        let mut state = ClusterState::default();
        state.insert_ingress(on_lb("old"));
        let recording = Recording::new(&state);
        assert!(recording.service("shop", "web").is_none());
        assert_eq!(recording.ingresses_on_lb("lb-12345678").len(), 1);
        let reads = recording.into_reads();
        assert_eq!(reads.services, BTreeSet::from([key("shop", "web")]));
        assert_eq!(reads.ingresses, BTreeSet::from([key("shop", "old")]));
    }

    #[test]
    fn confirmed_answers_replace_the_cached_ones() {
        let mut state = ClusterState::default();
        state.insert_ingress(on_lb("deleted"));
        state.insert_ingress(on_lb("moved"));
        state.insert_ingress(on_lb("kept"));
        let mut confirmed = Confirmed::default();
        confirmed.ingresses.insert(key("shop", "deleted"), None);
        let mut moved = on_lb("moved");
        moved.exist_lb_id = Some("lb-87654321".into());
        confirmed
            .ingresses
            .insert(key("shop", "moved"), Some(Arc::new(moved)));
        let web = ServiceSummary {
            service_type: "NodePort".into(),
            ..ServiceSummary::default()
        };
        confirmed
            .services
            .insert(key("shop", "web"), Some(web.clone()));
        let overlay = Recording::confirmed_by(&state, &confirmed);
        let names: Vec<String> = overlay
            .ingresses_on_lb("lb-12345678")
            .iter()
            .map(|i| i.name.clone())
            .collect();
        assert_eq!(names, ["kept"]);
        assert_eq!(overlay.service("shop", "web"), Some(web));
        assert_eq!(overlay.service("shop", "other"), None);
    }
}
