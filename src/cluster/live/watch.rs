//! One kube-rs watcher per kind, folded into the shared state.
//!
//! Only summaries are stored; an Ingress that is not of class qcloud is removed, since conflict
//! rules only ask about qcloud ones. A (re-)list is buffered between `Init` and `InitDone` and
//! swapped in at once, so objects deleted while the watch was down disappear and a look-up never
//! sees half a list.

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::{AuditFeed, Shared, WatchHealth};
use crate::cluster::summary::{summarise_qcloud, summarise_service};
use crate::cluster::{ClusterLookup as _, ClusterState};

/// A kind the live view caches.
pub(super) trait Cached:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    /// Bounded name for logs and metrics.
    const RESOURCE: &'static str;
    fn health(shared: &Shared) -> &WatchHealth;
    fn apply(state: &mut ClusterState, object: &Self);
    fn delete(state: &mut ClusterState, object: &Self);
    /// Swaps this kind's maps between the shared state and a freshly listed one.
    fn swap(state: &mut ClusterState, listed: &mut ClusterState);
    /// Tells the audit feed (`state` is the view as it was before the change).
    fn notice(feed: &AuditFeed, state: &ClusterState, object: &Self, deleted: bool);
    /// Tells the audit feed which objects a (re-)list found.
    fn relisted(feed: &AuditFeed, listed: &ClusterState);
}

fn key<K: ResourceExt>(object: &K) -> (String, String) {
    (object.namespace().unwrap_or_default(), object.name_any())
}

impl Cached for Service {
    const RESOURCE: &'static str = "services";

    fn health(shared: &Shared) -> &WatchHealth {
        &shared.services
    }

    fn apply(state: &mut ClusterState, object: &Self) {
        let (namespace, name) = key(object);
        state.insert_service(&namespace, &name, summarise_service(object));
    }

    fn delete(state: &mut ClusterState, object: &Self) {
        let (namespace, name) = key(object);
        state.remove_service(&namespace, &name);
    }

    fn swap(state: &mut ClusterState, listed: &mut ClusterState) {
        state.swap_services(listed);
    }

    fn notice(feed: &AuditFeed, _: &ClusterState, object: &Self, _: bool) {
        feed.service_changed(key(object));
    }

    fn relisted(feed: &AuditFeed, _: &ClusterState) {
        // Services may have gone while the watch was down: judge every Ingress again.
        feed.mark_all();
    }
}

impl Cached for Ingress {
    const RESOURCE: &'static str = "ingresses";

    fn health(shared: &Shared) -> &WatchHealth {
        &shared.ingresses
    }

    fn apply(state: &mut ClusterState, object: &Self) {
        let (namespace, name) = key(object);
        if let Some(summary) = summarise_qcloud(object, &namespace) {
            state.insert_ingress(summary);
        } else {
            // Its class may have changed away from qcloud.
            state.remove_ingress(&namespace, &name);
        }
    }

    fn delete(state: &mut ClusterState, object: &Self) {
        let (namespace, name) = key(object);
        state.remove_ingress(&namespace, &name);
    }

    fn swap(state: &mut ClusterState, listed: &mut ClusterState) {
        state.swap_ingresses(listed);
    }

    fn notice(feed: &AuditFeed, state: &ClusterState, object: &Self, deleted: bool) {
        let key = key(object);
        // Its CLB's other Ingresses, before and after: a conflict may have come or gone.
        let mut neighbours: Vec<(String, String)> = Vec::new();
        let old = Some(state.ingress_lb_ids(&key.0, &key.1));
        let new = (!deleted)
            .then(|| summarise_qcloud(object, &key.0))
            .flatten();
        for lb in old
            .into_iter()
            .flatten()
            .chain(new.iter().flat_map(summarise_lb_ids))
        {
            neighbours.extend(
                state
                    .ingresses_on_lb(&lb)
                    .iter()
                    .map(|i| (i.namespace.clone(), i.name.clone()))
                    .filter(|k| *k != key),
            );
        }
        if new.is_some() {
            feed.ingress_applied(key, object, neighbours);
        } else {
            feed.ingress_gone(&key, neighbours);
        }
    }

    fn relisted(feed: &AuditFeed, listed: &ClusterState) {
        feed.relisted(|namespace, name| listed.holds_ingress(namespace, name));
    }
}

/// The CLB ids an Ingress summary is on.
fn summarise_lb_ids(summary: &crate::cluster::IngressSummary) -> Vec<String> {
    summary
        .exist_lb_id
        .iter()
        .chain(summary.lb_id.iter())
        .cloned()
        .collect()
}

/// Watches `K` until aborted. Errors are retried with kube's default backoff while the last good
/// state keeps answering.
pub(super) async fn run<K: Cached>(api: Api<K>, shared: Arc<Shared>) {
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut listing: Option<ClusterState> = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => fold::<K>(&shared, &mut listing, event),
            Err(error) => {
                K::health(&shared).restarted();
                tracing::warn!(
                    resource = K::RESOURCE,
                    error = %crate::ingress::one_line(&error.to_string()),
                    "watch failed; retrying with backoff and answering from the last good state"
                );
            }
        }
    }
}

/// Applies one watch event to the shared state (or to the list being buffered).
fn fold<K: Cached>(shared: &Shared, listing: &mut Option<ClusterState>, event: Event<K>) {
    let health = K::health(shared);
    match event {
        Event::Init => *listing = Some(shared.read().empty_like()),
        Event::InitApply(object) => {
            if let Some(listed) = listing.as_mut() {
                if let Some(feed) = &shared.feed {
                    K::notice(feed, listed, &object, false);
                }
                K::apply(listed, &object);
            }
        }
        Event::InitDone => {
            if let Some(mut listed) = listing.take() {
                if let Some(feed) = &shared.feed {
                    K::relisted(feed, &listed);
                }
                K::swap(&mut shared.write(), &mut listed);
                // `listed` now holds the old maps; they are dropped here, outside the lock.
                drop(listed);
                health.mark_listed(shared.started);
                tracing::info!(resource = K::RESOURCE, "cache (re-)listed");
            }
        }
        Event::Apply(object) => {
            let mut state = shared.write();
            if let Some(feed) = &shared.feed {
                K::notice(feed, &state, &object, false);
            }
            K::apply(&mut state, &object);
            health.touch(shared.started);
        }
        Event::Delete(object) => {
            let mut state = shared.write();
            if let Some(feed) = &shared.feed {
                K::notice(feed, &state, &object, true);
            }
            K::delete(&mut state, &object);
            health.touch(shared.started);
        }
    }
}
