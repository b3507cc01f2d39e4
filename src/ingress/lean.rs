//! Reading a `networking.k8s.io/v1` Ingress straight from its JSON text, keeping only what the
//! rules read: name, namespace, annotations (without kubectl's last-applied copy of the whole
//! object) and spec. `managedFields`, `status`, labels and the rest are skipped while parsing,
//! without building them; the old path built a value tree of the whole object first and a typed
//! Ingress from it, which cost more than TLS and HTTP together.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::networking::v1::{Ingress, IngressSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};

/// The annotation `kubectl apply` writes: the whole object again, read by no rule.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// An Ingress object as read: what [`LeanIngress::into_v1`] turns into a v1 Ingress. The HTTP
/// layer reads it as a field of the AdmissionReview, in the same pass as the envelope.
#[derive(Deserialize)]
pub struct LeanIngress<'a> {
    #[serde(rename = "apiVersion", borrow, default)]
    api_version: Option<Cow<'a, str>>,
    #[serde(default)]
    metadata: LeanMeta,
    #[serde(default)]
    spec: Option<IngressSpec>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LeanMeta {
    name: Option<String>,
    namespace: Option<String>,
    generate_name: Option<String>,
    #[serde(default)]
    annotations: Option<Annotations>,
}

/// Annotations without the last-applied copy (its text is skipped, not kept).
struct Annotations(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Annotations {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Skipping;
        impl<'de> Visitor<'de> for Skipping {
            type Value = Annotations;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of annotations")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Annotations, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == LAST_APPLIED {
                        map.next_value::<IgnoredAny>()?;
                    } else {
                        out.insert(key.into_owned(), map.next_value::<String>()?);
                    }
                }
                Ok(Annotations(out))
            }
        }
        deserializer.deserialize_map(Skipping)
    }
}

impl LeanIngress<'_> {
    /// The Ingress when it is (or, without an `apiVersion`, is taken as) a v1 object; `None` for
    /// another version, which the caller converts the slow way.
    pub fn into_v1(self, assume_v1: bool) -> Option<Ingress> {
        let is_v1 = match self.api_version.as_deref() {
            Some("networking.k8s.io/v1") => true,
            None | Some("") => assume_v1,
            Some(_) => false,
        };
        is_v1.then(|| Ingress {
            metadata: ObjectMeta {
                name: self.metadata.name,
                namespace: self.metadata.namespace,
                generate_name: self.metadata.generate_name,
                annotations: self.metadata.annotations.map(|a| a.0),
                ..ObjectMeta::default()
            },
            spec: self.spec,
            status: None,
        })
    }
}

/// The Ingress in `text` when it is (or, without an `apiVersion`, is taken as) a v1 object;
/// `Ok(None)` for another version, which the caller converts the slow way.
pub fn read_v1(text: &str, assume_v1: bool) -> Result<Option<Ingress>, serde_json::Error> {
    let lean: LeanIngress<'_> = serde_json::from_str(text)?;
    Ok(lean.into_v1(assume_v1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_no_rule_reads_is_skipped_and_the_rest_kept() {
        let object = json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": "web", "namespace": "shop", "uid": "u",
                "labels": {"app": "web"},
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                "annotations": {
                    LAST_APPLIED: "{\"apiVersion\":\"networking.k8s.io/v1\"}",
                    "kubernetes.io/ingress.class": "qcloud"
                }
            },
            "spec": {"rules": [{"host": "a.example.com"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}
        });
        let ingress = read_v1(&object.to_string(), false).unwrap().unwrap();
        assert_eq!(ingress.metadata.name.as_deref(), Some("web"));
        assert_eq!(ingress.metadata.namespace.as_deref(), Some("shop"));
        let annotations = ingress.metadata.annotations.unwrap();
        assert_eq!(annotations.len(), 1);
        assert_eq!(annotations["kubernetes.io/ingress.class"], "qcloud");
        assert!(ingress.metadata.managed_fields.is_none() && ingress.status.is_none());
        let host = ingress.spec.unwrap().rules.unwrap()[0].host.clone();
        assert_eq!(host.as_deref(), Some("a.example.com"));
    }

    #[test]
    fn other_versions_are_left_to_the_caller_and_bad_json_is_an_error() {
        let beta = json!({"apiVersion": "extensions/v1beta1", "metadata": {"name": "x"}});
        assert!(read_v1(&beta.to_string(), true).unwrap().is_none());
        let bare = json!({"metadata": {"name": "x"}});
        assert!(read_v1(&bare.to_string(), true).unwrap().is_some());
        assert!(read_v1(&bare.to_string(), false).unwrap().is_none());
        assert!(read_v1(r#"{"spec": {"rules": "nope"}}"#, true).is_err());
    }
}
