//! The Ingress the rules read: a `networking.k8s.io/v1` Ingress of our own types, borrowing its
//! strings from the text it was read from. On `/validate` it is read with the envelope, in one
//! pass over the body, and nothing of it is copied: a string without escapes stays a slice of the
//! body, annotations are a sorted list of pairs (no map), and what no rule reads (`managedFields`,
//! `status`, labels, the last-applied annotation) is skipped unread.
//!
//! The shape and the field names are k8s-openapi's (`spec.rules[].http.paths[].backend.service`),
//! so a rule reads the same paths it would read there, and the reading is k8s-openapi's too: every
//! field may be absent or `null`, required strings and lists default to empty, unknown fields
//! are ignored. An object this reader refuses is read again by k8s-openapi (which names the bad
//! field, in the message users see) and converted with [`Ingress::from_k8s`]; other Ingress
//! versions, converted to v1 first, come the same way.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use k8s_openapi::api::networking::v1 as k8s;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The annotation `kubectl apply` writes: the whole object again, read by no rule.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

const V1: &str = "networking.k8s.io/v1";

/// A string of the object: borrowed from the text it was read from when it has no escapes.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Str<'a>(Cow<'a, str>);

impl<'a> Str<'a> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same string, owning its text.
    pub fn into_owned(self) -> Str<'static> {
        Str(Cow::Owned(self.0.into_owned()))
    }

    /// A string of an owned object, borrowed from it.
    fn of(text: &'a str) -> Self {
        Str(Cow::Borrowed(text))
    }
}

impl Deref for Str<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Str<'_> {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Str<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Str<'_>> for str {
    fn eq(&self, other: &Str<'_>) -> bool {
        *self == *other.0
    }
}

impl PartialEq<Str<'_>> for &str {
    fn eq(&self, other: &Str<'_>) -> bool {
        **self == *other.0
    }
}

impl From<String> for Str<'_> {
    fn from(text: String) -> Self {
        Str(Cow::Owned(text))
    }
}

impl<'a> From<&'a str> for Str<'a> {
    fn from(text: &'a str) -> Self {
        Str(Cow::Borrowed(text))
    }
}

impl serde::Serialize for Str<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Borrowing;
        impl<'de> Visitor<'de> for Borrowing {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E>(self, text: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(Borrowing)
    }
}

/// Reads a field as k8s-openapi does: absent or `null` is the type's default.
fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A `networking.k8s.io/v1` Ingress: what the rules read of it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Ingress<'a> {
    /// As written; the reader decides what an object without one is.
    #[serde(rename = "apiVersion", borrow, default)]
    pub api_version: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "or_default")]
    pub metadata: Meta<'a>,
    #[serde(borrow, default)]
    pub spec: Option<IngressSpec<'a>>,
}

/// `metadata`, without labels, `managedFields` and the rest no rule reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta<'a> {
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub namespace: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub generate_name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub annotations: Option<Annotations<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec<'a> {
    #[serde(borrow, default)]
    pub default_backend: Option<IngressBackend<'a>>,
    #[serde(borrow, default)]
    pub ingress_class_name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub rules: Option<Vec<IngressRule<'a>>>,
    #[serde(borrow, default)]
    pub tls: Option<Vec<IngressTLS<'a>>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IngressRule<'a> {
    #[serde(borrow, default)]
    pub host: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub http: Option<HTTPIngressRuleValue<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HTTPIngressRuleValue<'a> {
    #[serde(borrow, default, deserialize_with = "or_default")]
    pub paths: Vec<HTTPIngressPath<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HTTPIngressPath<'a> {
    #[serde(borrow, default, deserialize_with = "or_default")]
    pub backend: IngressBackend<'a>,
    #[serde(borrow, default)]
    pub path: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "or_default")]
    pub path_type: Str<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IngressBackend<'a> {
    #[serde(borrow, default)]
    pub resource: Option<TypedLocalObjectReference<'a>>,
    #[serde(borrow, default)]
    pub service: Option<IngressServiceBackend<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypedLocalObjectReference<'a> {
    #[serde(borrow, default)]
    pub api_group: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "or_default")]
    pub kind: Str<'a>,
    #[serde(borrow, default, deserialize_with = "or_default")]
    pub name: Str<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IngressServiceBackend<'a> {
    #[serde(borrow, default, deserialize_with = "or_default")]
    pub name: Str<'a>,
    #[serde(borrow, default)]
    pub port: Option<ServiceBackendPort<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ServiceBackendPort<'a> {
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    #[serde(default)]
    pub number: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressTLS<'a> {
    #[serde(borrow, default)]
    pub hosts: Option<Vec<Str<'a>>>,
    #[serde(borrow, default)]
    pub secret_name: Option<Str<'a>>,
}

/// Up to this many annotations, [`Annotations::get`] scans instead of searching.
const LINEAR_SEARCH_UP_TO: usize = 16;

/// `metadata.annotations` as key-sorted pairs, a key once (the last one written, as a map reads
/// it). Read from a review, kubectl's last-applied copy of the whole object is skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations<'a>(Vec<(Str<'a>, Str<'a>)>);

impl<'a> Annotations<'a> {
    /// No annotations.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Str<'a>> {
        // The rules ask for dozens of keys per review, nearly all absent, and keys share long
        // prefixes (`ingress.cloud.tencent.com/`): comparing lengths first rules most out without
        // reading a byte, where a binary search compares the prefixes again at every step.
        if self.0.len() <= LINEAR_SEARCH_UP_TO {
            return self
                .0
                .iter()
                .find(|(k, _)| k.len() == key.len() && k.as_str() == key)
                .map(|(_, v)| v);
        }
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|at| &self.0[at].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Keys and values, in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Str<'a>, &Str<'a>)> + '_ {
        self.into_iter()
    }

    pub fn keys(&self) -> impl Iterator<Item = &Str<'a>> + '_ {
        self.0.iter().map(|(k, _)| k)
    }

    /// Sets `key` to `value` (`/mutate`'s edits).
    pub fn insert(&mut self, key: Str<'a>, value: Str<'a>) {
        match self.0.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(at) => self.0[at].1 = value,
            Err(at) => self.0.insert(at, (key, value)),
        }
    }

    /// Sorted by key; of a key written twice, the last (as a map reads it).
    fn from_pairs(mut pairs: Vec<(Str<'a>, Str<'a>)>) -> Self {
        if !pairs.is_sorted_by(|a, b| a.0 < b.0) {
            // Reversed, a stable sort puts the last written of each key first, which `dedup_by`
            // keeps.
            pairs.reverse();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            pairs.dedup_by(|later, kept| later.0 == kept.0);
        }
        Self(pairs)
    }
}

impl<'b, 'a> IntoIterator for &'b Annotations<'a> {
    type Item = (&'b Str<'a>, &'b Str<'a>);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'b, (Str<'a>, Str<'a>)>,
        fn(&'b (Str<'a>, Str<'a>)) -> (&'b Str<'a>, &'b Str<'a>),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Annotations<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Annotations<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of annotations")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Annotations<'de>, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
                while let Some(key) = map.next_key::<Str<'de>>()? {
                    if key == LAST_APPLIED {
                        map.next_value::<IgnoredAny>()?;
                    } else {
                        pairs.push((key, map.next_value::<Str<'de>>()?));
                    }
                }
                Ok(Annotations::from_pairs(pairs))
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

impl<'a> Ingress<'a> {
    /// The Ingress in `text`, borrowing its strings; the caller checks the `apiVersion`.
    pub fn read(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The Ingress in a value tree, owning its strings.
    pub fn from_value(value: serde_json::Value) -> Result<Ingress<'static>, serde_json::Error> {
        Ingress::deserialize(value)
    }

    /// A `networking.k8s.io/v1` object, or one without an `apiVersion` when `assume_v1` (the
    /// request names v1).
    pub fn is_v1(&self, assume_v1: bool) -> bool {
        match self.api_version.as_deref() {
            Some(V1) => true,
            None | Some("") => assume_v1,
            Some(_) => false,
        }
    }

    /// A k8s-openapi Ingress as the rules read it, borrowing its strings (every annotation kept).
    pub fn from_k8s(ingress: &'a k8s::Ingress) -> Self {
        let meta = &ingress.metadata;
        let text = |s: &'a Option<String>| s.as_deref().map(Str::of);
        Ingress {
            api_version: Some(Str::of(V1)),
            metadata: Meta {
                name: text(&meta.name),
                namespace: text(&meta.namespace),
                generate_name: text(&meta.generate_name),
                annotations: meta.annotations.as_ref().map(|a| {
                    Annotations(a.iter().map(|(k, v)| (Str::of(k), Str::of(v))).collect())
                }),
            },
            spec: ingress.spec.as_ref().map(|spec| IngressSpec {
                default_backend: spec.default_backend.as_ref().map(backend),
                ingress_class_name: text(&spec.ingress_class_name),
                rules: spec.rules.as_ref().map(|rules| {
                    rules
                        .iter()
                        .map(|rule| IngressRule {
                            host: text(&rule.host),
                            http: rule.http.as_ref().map(|http| HTTPIngressRuleValue {
                                paths: http.paths.iter().map(path).collect(),
                            }),
                        })
                        .collect()
                }),
                tls: spec.tls.as_ref().map(|tls| {
                    tls.iter()
                        .map(|t| IngressTLS {
                            hosts: t
                                .hosts
                                .as_ref()
                                .map(|h| h.iter().map(|s| Str::of(s)).collect()),
                            secret_name: text(&t.secret_name),
                        })
                        .collect()
                }),
            }),
        }
    }

    /// The same Ingress, owning its strings.
    pub fn into_owned(self) -> Ingress<'static> {
        let own = |s: Option<Str<'a>>| s.map(Str::into_owned);
        Ingress {
            api_version: own(self.api_version),
            metadata: Meta {
                name: own(self.metadata.name),
                namespace: own(self.metadata.namespace),
                generate_name: own(self.metadata.generate_name),
                annotations: self.metadata.annotations.map(|a| {
                    Annotations(
                        a.0.into_iter()
                            .map(|(k, v)| (k.into_owned(), v.into_owned()))
                            .collect(),
                    )
                }),
            },
            spec: self.spec.map(|spec| IngressSpec {
                default_backend: spec.default_backend.map(IngressBackend::into_owned),
                ingress_class_name: own(spec.ingress_class_name),
                rules: spec.rules.map(|rules| {
                    rules
                        .into_iter()
                        .map(|rule| IngressRule {
                            host: own(rule.host),
                            http: rule.http.map(|http| HTTPIngressRuleValue {
                                paths: http
                                    .paths
                                    .into_iter()
                                    .map(HTTPIngressPath::into_owned)
                                    .collect(),
                            }),
                        })
                        .collect()
                }),
                tls: spec.tls.map(|tls| {
                    tls.into_iter()
                        .map(|t| IngressTLS {
                            hosts: t
                                .hosts
                                .map(|h| h.into_iter().map(Str::into_owned).collect()),
                            secret_name: own(t.secret_name),
                        })
                        .collect()
                }),
            }),
        }
    }
}

fn path(path: &k8s::HTTPIngressPath) -> HTTPIngressPath<'_> {
    HTTPIngressPath {
        backend: backend(&path.backend),
        path: path.path.as_deref().map(Str::of),
        path_type: Str::of(&path.path_type),
    }
}

fn backend(backend: &k8s::IngressBackend) -> IngressBackend<'_> {
    IngressBackend {
        resource: backend
            .resource
            .as_ref()
            .map(|r| TypedLocalObjectReference {
                api_group: r.api_group.as_deref().map(Str::of),
                kind: Str::of(&r.kind),
                name: Str::of(&r.name),
            }),
        service: backend.service.as_ref().map(|s| IngressServiceBackend {
            name: Str::of(&s.name),
            port: s.port.as_ref().map(|p| ServiceBackendPort {
                name: p.name.as_deref().map(Str::of),
                number: p.number,
            }),
        }),
    }
}

impl HTTPIngressPath<'_> {
    fn into_owned(self) -> HTTPIngressPath<'static> {
        HTTPIngressPath {
            backend: self.backend.into_owned(),
            path: self.path.map(Str::into_owned),
            path_type: self.path_type.into_owned(),
        }
    }
}

impl IngressBackend<'_> {
    fn into_owned(self) -> IngressBackend<'static> {
        IngressBackend {
            resource: self.resource.map(|r| TypedLocalObjectReference {
                api_group: r.api_group.map(Str::into_owned),
                kind: r.kind.into_owned(),
                name: r.name.into_owned(),
            }),
            service: self.service.map(|s| IngressServiceBackend {
                name: s.name.into_owned(),
                port: s.port.map(|p| ServiceBackendPort {
                    name: p.name.map(Str::into_owned),
                    number: p.number,
                }),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The object as the API server sends it: everything the rules read, and more.
    fn object() -> serde_json::Value {
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": "web", "namespace": "shop", "uid": "u", "labels": {"app": "web"},
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                "annotations": {
                    "kubernetes.io/ingress.class": "qcloud",
                    "kubernetes.io/ingress.http-rules": "[{\"path\":\"/a\"}]",
                    "a.example.com/first": "1"
                }
            },
            "spec": {
                "ingressClassName": null,
                "defaultBackend": {"service": {"name": "fallback", "port": {"number": 80}}},
                "rules": [{"host": "a.example.com", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix",
                     "backend": {"service": {"name": "web", "port": {"name": "http"}}}},
                    {"path": "/r", "pathType": null,
                     "backend": {"resource": {"kind": "Bucket", "name": "b"}}}
                ]}}, {"host": "b.example.com"}],
                "tls": [{"hosts": ["a.example.com"], "secretName": "cert"}, {}]
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}
        })
    }

    #[test]
    fn reads_what_k8s_openapi_reads() {
        let text = object().to_string();
        let k8s: k8s::Ingress = serde_json::from_str(&text).unwrap();
        let view = Ingress::read(&text).unwrap();
        assert_eq!(view, Ingress::from_k8s(&k8s));
        assert_eq!(view.clone().into_owned(), view);
    }

    #[test]
    fn strings_without_escapes_are_borrowed_from_the_text() {
        let text = object().to_string();
        let view = Ingress::read(&text).unwrap();
        let name = view.metadata.name.as_ref().unwrap();
        assert!(matches!(name.0, Cow::Borrowed(_)));
        let annotations = view.metadata.annotations.as_ref().unwrap();
        let rules = annotations.get("kubernetes.io/ingress.http-rules").unwrap();
        assert_eq!(rules.as_str(), r#"[{"path":"/a"}]"#);
        assert!(
            matches!(rules.0, Cow::Owned(_)),
            "escaped quotes are unescaped"
        );
    }

    #[test]
    fn annotations_are_sorted_a_key_once_the_last_written_and_without_last_applied() {
        let text = format!(
            r#"{{"metadata": {{"annotations": {{"z": "1", "a": "x", "{LAST_APPLIED}": "{{}}", "z": "2", "m": "3", "a": "y"}}}}}}"#
        );
        let view = Ingress::read(&text).unwrap();
        let annotations = view.metadata.annotations.unwrap();
        let pairs: Vec<(&str, &str)> = annotations
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(pairs, [("a", "y"), ("m", "3"), ("z", "2")]);
        assert_eq!(annotations.get("m").map(Str::as_str), Some("3"));
        assert!(annotations.get(LAST_APPLIED).is_none() && annotations.get("b").is_none());
    }

    #[test]
    fn get_finds_every_key_and_no_other_in_short_and_long_lists() {
        for count in [0, 1, LINEAR_SEARCH_UP_TO, LINEAR_SEARCH_UP_TO + 1, 40] {
            let pairs = (0..count)
                .map(|i| {
                    (
                        Str::from(format!("ingress.cloud.tencent.com/k{i}")),
                        Str::from(i.to_string()),
                    )
                })
                .collect();
            let annotations = Annotations::from_pairs(pairs);
            for i in 0..count {
                let key = format!("ingress.cloud.tencent.com/k{i}");
                assert_eq!(
                    annotations.get(&key).map(Str::as_str),
                    Some(&*i.to_string())
                );
            }
            assert!(annotations.get("ingress.cloud.tencent.com/k").is_none());
            assert!(annotations.get("ingress.cloud.tencent.com/k999").is_none());
        }
    }

    #[test]
    fn insert_keeps_the_keys_sorted() {
        let mut annotations = Annotations::from_pairs(vec![("b".into(), "1".into())]);
        annotations.insert("a".into(), "2".into());
        annotations.insert("b".into(), "3".into());
        let keys: Vec<&str> = annotations.keys().map(Str::as_str).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(annotations.get("b").map(Str::as_str), Some("3"));
    }

    #[test]
    fn other_versions_are_told_apart() {
        let beta = Ingress::read(r#"{"apiVersion": "extensions/v1beta1"}"#).unwrap();
        assert!(!beta.is_v1(true));
        let bare = Ingress::read(r#"{"metadata": {"name": "x"}}"#).unwrap();
        assert!(bare.is_v1(true) && !bare.is_v1(false));
        assert!(Ingress::read(&object().to_string()).unwrap().is_v1(false));
    }

    #[test]
    fn bad_types_are_errors() {
        for bad in [
            r#"{"spec": {"rules": "nope"}}"#,
            r#"{"spec": {"tls": [{"hosts": [1]}]}}"#,
            r#"{"metadata": {"annotations": {"a": null}}}"#,
            r#"{"spec": {"defaultBackend": {"service": {"port": {"number": 1.5}}}}}"#,
        ] {
            assert!(Ingress::read(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<k8s::Ingress>(bad).is_err(), "{bad}");
        }
    }
}
