//! What the audit pass needs from the watches: each qcloud Ingress as it stands, reduced to
//! what the rules read (name, namespace, annotations without the last-applied copy, spec: the
//! fields `ingress::view` decodes; `managedFields`, labels, `status` and the rest are dropped),
//! and which ones to judge again: changed, sharing a CLB with one that changed, or using a
//! Service that changed. Kept only when the audit is on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::api::networking::v1::{Ingress, IngressSpec};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::cluster::by_name::{ByName, Interner};
use crate::cluster::confirm::Key;
use crate::ingress::view::LAST_APPLIED;

/// An Ingress's namespace and name as the feed holds them: shared with its stored object, so
/// that marking all of a cluster's Ingresses, or holding their audit results, copies no string.
pub type SharedKey = (Arc<str>, Arc<str>);

#[derive(Debug, Default)]
struct State {
    objects: ByName<Arc<RawValue>, Arc<str>>,
    namespaces: Interner,
    dirty: BTreeSet<SharedKey>,
    dirty_services: BTreeSet<Key>,
}

impl State {
    /// The key of `namespace/name`, shared with the object when it is held.
    fn shared_key(&mut self, namespace: &str, name: &str) -> SharedKey {
        match self.objects.shared_key(namespace, name) {
            Some((ns, name)) => (ns.clone(), name.clone()),
            None => (self.namespaces.intern(namespace), Arc::from(name)),
        }
    }

    fn mark(&mut self, keys: impl IntoIterator<Item = Key>) {
        for (namespace, name) in keys {
            let key = self.shared_key(&namespace, &name);
            self.dirty.insert(key);
        }
    }

    fn mark_all(&mut self) {
        let all: Vec<SharedKey> = self
            .objects
            .keyed()
            .map(|(ns, name, _)| (ns.clone(), name.clone()))
            .collect();
        self.dirty.extend(all);
    }
}

/// Objects and change marks, shared by the watch tasks (writers) and the audit pass (reader).
#[derive(Debug, Default)]
pub struct AuditFeed {
    state: Mutex<State>,
    changed: tokio::sync::Notify,
}

impl AuditFeed {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A qcloud Ingress as it now stands, and the others to judge again with it (on its CLB).
    pub(super) fn ingress_applied(
        &self,
        key: Key,
        object: &Ingress,
        neighbours: impl IntoIterator<Item = Key>,
    ) {
        let Some(raw) = compact(object) else {
            return;
        };
        let mut state = self.state();
        let namespace = state.namespaces.intern(&key.0);
        state.objects.insert(namespace, &key.1, raw);
        state.mark(std::iter::once(key).chain(neighbours));
        drop(state);
        self.changed.notify_one();
    }

    /// An Ingress deleted, or no longer of class qcloud.
    pub(super) fn ingress_gone(&self, key: &Key, neighbours: impl IntoIterator<Item = Key>) {
        let mut state = self.state();
        let held = state.shared_key(&key.0, &key.1);
        if state.objects.remove(&key.0, &key.1).is_some() {
            state.dirty.insert(held);
        }
        state.mark(neighbours);
        drop(state);
        self.changed.notify_one();
    }

    pub(super) fn service_changed(&self, key: Key) {
        self.state().dirty_services.insert(key);
        self.changed.notify_one();
    }

    /// After a re-list: objects not `listed` again are gone, and everything is judged again.
    pub(super) fn relisted(&self, listed: impl Fn(&str, &str) -> bool) {
        let mut state = self.state();
        let gone: Vec<SharedKey> = state
            .objects
            .keyed()
            .filter(|(ns, name, _)| !listed(ns, name))
            .map(|(ns, name, _)| (ns.clone(), name.clone()))
            .collect();
        for (namespace, name) in &gone {
            state.objects.remove(namespace, name);
        }
        state.mark_all();
        state.dirty.extend(gone);
        drop(state);
        self.changed.notify_one();
    }

    /// Marks every Ingress to be judged again (a periodic full pass: Secrets are not watched).
    pub fn mark_all(&self) {
        self.state().mark_all();
    }

    /// Marks these Ingresses to be judged again.
    pub fn mark(&self, keys: impl IntoIterator<Item = Key>) {
        self.state().mark(keys);
    }

    /// The Services that changed since the last call.
    pub fn take_changed_services(&self) -> BTreeSet<Key> {
        std::mem::take(&mut self.state().dirty_services)
    }

    /// Up to `max` Ingresses to judge, each with its object (`None`: it is gone).
    pub fn take(&self, max: usize) -> Vec<(SharedKey, Option<Arc<RawValue>>)> {
        let mut state = self.state();
        let mut taken = Vec::with_capacity(max.min(state.dirty.len()));
        while taken.len() < max {
            let Some(key) = state.dirty.pop_first() else {
                break;
            };
            let object = state.objects.get(&key.0, &key.1).cloned();
            taken.push((key, object));
        }
        taken
    }

    /// True when nothing waits to be judged.
    pub fn is_settled(&self) -> bool {
        let state = self.state();
        state.dirty.is_empty() && state.dirty_services.is_empty()
    }

    /// Every Ingress held, for a one-off pass (`audit` on the command line).
    pub fn all(&self) -> Vec<(Key, Arc<RawValue>)> {
        let state = self.state();
        let mut all: Vec<(Key, Arc<RawValue>)> = state
            .objects
            .iter()
            .map(|(ns, name, v)| ((ns.to_owned(), name.to_owned()), v.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Resolves when something changed since the last wake-up.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// What the rules read of an Ingress (see `ingress::view`), borrowed for serializing. No
/// `apiVersion` or `kind` (47 bytes of each copy): the audit judges it as the v1 Ingress it is.
#[derive(Serialize)]
struct Lean<'a> {
    metadata: LeanMeta<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spec: Option<&'a IngressSpec>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LeanMeta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generate_name: Option<&'a str>,
    annotations: BTreeMap<&'a str, &'a str>,
}

/// The object reduced to what the rules read, as compact JSON.
fn compact(object: &Ingress) -> Option<Arc<RawValue>> {
    let metadata = &object.metadata;
    let lean = Lean {
        metadata: LeanMeta {
            name: metadata.name.as_deref(),
            namespace: metadata.namespace.as_deref(),
            generate_name: metadata.generate_name.as_deref(),
            annotations: metadata
                .annotations
                .iter()
                .flatten()
                .filter(|(k, _)| k.as_str() != LAST_APPLIED)
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        },
        spec: object.spec.as_ref(),
    };
    let text = serde_json::to_string(&lean).ok()?;
    RawValue::from_string(text).ok().map(Arc::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> Key {
        ("shop".to_owned(), name.to_owned())
    }

    fn ingress(name: &str) -> Ingress {
        serde_json::from_value(json!({
            "metadata": {
                "name": name, "namespace": "shop", "uid": "u-1", "resourceVersion": "7",
                "labels": {"app": "shop"},
                "managedFields": [{"manager": "kubectl"}],
                "annotations": {LAST_APPLIED: "{...}", "kubernetes.io/ingress.class": "qcloud"}
            },
            "status": {"loadBalancer": {}}
        }))
        .unwrap()
    }

    #[test]
    fn objects_are_kept_without_what_no_rule_reads() {
        let feed = AuditFeed::default();
        feed.ingress_applied(key("a"), &ingress("a"), [key("b")]);
        let taken = feed.take(10);
        assert_eq!(taken.len(), 2, "the changed one and its CLB neighbour");
        assert_eq!((&*taken[0].0.1, &*taken[1].0.1), ("a", "b"));
        let (_, object) = &taken[0];
        let text = object.as_ref().unwrap().get();
        assert!(
            !text.contains("managedFields") && !text.contains(LAST_APPLIED),
            "{text}"
        );
        assert!(!text.contains("status"), "{text}");
        for dropped in ["uid", "resourceVersion", "labels"] {
            assert!(!text.contains(dropped), "{text}");
        }
        assert!(
            text.contains(r#""kubernetes.io/ingress.class":"qcloud""#),
            "{text}"
        );
        assert!(!text.contains("apiVersion"), "{text}");
        assert!(taken[1].1.is_none(), "b is not held");
        assert!(feed.is_settled());
    }

    #[test]
    fn marks_share_the_held_names_instead_of_copying_them() {
        let feed = AuditFeed::default();
        feed.ingress_applied(key("a"), &ingress("a"), []);
        let _ = feed.take(10);
        feed.mark_all();
        feed.mark([key("a"), key("not-held")]);
        let taken = feed.take(10);
        assert_eq!(taken.len(), 2, "a once, and the one not held");
        let state = feed.state();
        let (ns, name) = state.objects.shared_key("shop", "a").unwrap();
        assert!(Arc::ptr_eq(ns, &taken[0].0.0) && Arc::ptr_eq(name, &taken[0].0.1));
        assert!(taken[1].1.is_none(), "{:?}", taken[1].0);
    }

    #[test]
    fn a_relist_drops_the_unlisted_and_marks_everything() {
        let feed = AuditFeed::default();
        feed.ingress_applied(key("a"), &ingress("a"), []);
        feed.ingress_applied(key("b"), &ingress("b"), []);
        let _ = feed.take(10);
        feed.relisted(|_, name| name == "a");
        let taken = feed.take(10);
        assert_eq!(taken.len(), 2);
        assert!(taken.iter().any(|(k, o)| &*k.1 == "b" && o.is_none()));
        assert_eq!(feed.all().len(), 1);
    }
}
