//! Compact storage for the cluster view: objects of one kind by namespace, then name, looked up
//! with two `&str`s (no key is built per look-up), and an interner that shares the strings that
//! repeat across objects (namespaces, Service types, port names, the common paths).

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

/// Every review looks names up here (a 500-rule Ingress, 500 times): foldhash, seeded at random
/// per map, hashes a short name several times faster than std's SipHash.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Objects of one kind, by namespace then name. Names are `Box<str>` unless they are to be
/// shared with other structures (`Arc<str>`, see [`ByName::shared_key`]).
#[derive(Debug, Clone)]
pub struct ByName<V, N = Box<str>> {
    namespaces: Map<Arc<str>, Map<N, V>>,
    len: usize,
}

impl<V, N> Default for ByName<V, N> {
    fn default() -> Self {
        Self {
            namespaces: Map::default(),
            len: 0,
        }
    }
}

impl<V, N> ByName<V, N>
where
    N: Borrow<str> + Eq + Hash + for<'a> From<&'a str>,
{
    pub fn get(&self, namespace: &str, name: &str) -> Option<&V> {
        self.namespaces.get(namespace)?.get(name)
    }

    /// The stored namespace and name of an object held, to share rather than copy.
    pub fn shared_key(&self, namespace: &str, name: &str) -> Option<(&Arc<str>, &N)> {
        let (ns, names) = self.namespaces.get_key_value(namespace)?;
        let (name, _) = names.get_key_value(name)?;
        Some((ns, name))
    }

    /// Adds or replaces; returns the replaced value. `namespace` is kept as given (interned by
    /// the caller), unless the namespace is already there.
    pub fn insert(&mut self, namespace: Arc<str>, name: &str, value: V) -> Option<V> {
        let names = self.namespaces.entry(namespace).or_default();
        if let Some(slot) = names.get_mut(name) {
            return Some(std::mem::replace(slot, value));
        }
        names.insert(N::from(name), value);
        self.len += 1;
        None
    }

    pub fn remove(&mut self, namespace: &str, name: &str) -> Option<V> {
        let names = self.namespaces.get_mut(namespace)?;
        let old = names.remove(name)?;
        self.len -= 1;
        if names.is_empty() {
            self.namespaces.remove(namespace);
        }
        Some(old)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The objects of one namespace.
    pub fn in_namespace<'a>(&'a self, namespace: &str) -> impl Iterator<Item = (&'a str, &'a V)> {
        self.namespaces
            .get(namespace)
            .into_iter()
            .flat_map(|names| names.iter().map(|(n, v)| (n.borrow(), v)))
    }

    /// Every object, as (namespace, name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &V)> {
        self.keyed().map(|(ns, n, v)| (&**ns, n.borrow(), v))
    }

    /// Every object with its stored namespace and name.
    pub fn keyed(&self) -> impl Iterator<Item = (&Arc<str>, &N, &V)> {
        self.namespaces
            .iter()
            .flat_map(|(ns, names)| names.iter().map(move |(n, v)| (ns, n, v)))
    }
}

/// Above this many strings the interner stops adding (it never forgets one), so a stream of
/// unique names cannot grow it without bound; such strings are then simply not shared.
const INTERN_AT_MOST: usize = 4096;

/// Shares equal strings. Bounded: see [`INTERN_AT_MOST`].
#[derive(Debug, Clone, Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub fn intern(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        if self.0.len() < INTERN_AT_MOST {
            self.0.insert(shared.clone());
        }
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_come_and_go_by_namespace_and_name() {
        let mut map: ByName<i32> = ByName::default();
        assert_eq!(map.insert("a".into(), "x", 1), None);
        assert_eq!(map.insert("a".into(), "x", 2), Some(1));
        map.insert("b".into(), "x", 3);
        assert_eq!(
            (map.len(), map.get("a", "x"), map.get("b", "y")),
            (2, Some(&2), None)
        );
        assert_eq!(map.remove("a", "x"), Some(2));
        assert_eq!(map.remove("a", "x"), None);
        assert!(
            !map.namespaces.contains_key("a"),
            "an empty namespace is dropped"
        );
        let all: Vec<_> = map.iter().collect();
        assert_eq!(all, [("b", "x", &3)]);
    }

    #[test]
    fn the_interner_shares_and_stops_growing_at_its_bound() {
        let mut strings = Interner::default();
        let (a, b) = (strings.intern("http"), strings.intern("http"));
        assert!(Arc::ptr_eq(&a, &b));
        for i in 0..INTERN_AT_MOST + 10 {
            strings.intern(&i.to_string());
        }
        assert_eq!(strings.0.len(), INTERN_AT_MOST);
        assert_eq!(&*strings.intern("unique-name"), "unique-name");
    }
}
