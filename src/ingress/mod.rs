//! Decoding Ingress objects of every served API version into the one `networking.k8s.io/v1` shape
//! the rules work on, and mapping field paths back to the version the user wrote.
//!
//! `networking.k8s.io/v1beta1` and `extensions/v1beta1` name backends `serviceName`/`servicePort`
//! and the default backend `spec.backend`; everything else the rules look at is the same.

pub mod clb;
pub mod listeners;
pub mod view;

use k8s_openapi::api::networking::v1 as k8s;
use serde::Deserialize;

use serde_json::{Map, Value};
pub use view::{Annotations, Ingress, Str};

/// The API versions of Ingress that we understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngressVersion {
    /// `networking.k8s.io/v1`
    NetworkingV1,
    /// `networking.k8s.io/v1beta1` or `extensions/v1beta1`
    Beta1,
}

impl IngressVersion {
    /// The version for an `apiVersion` string, or `None` when it is not an Ingress version we know.
    pub fn from_api_version(api_version: &str) -> Option<Self> {
        match api_version {
            "networking.k8s.io/v1" => Some(Self::NetworkingV1),
            "networking.k8s.io/v1beta1" | "extensions/v1beta1" => Some(Self::Beta1),
            _ => None,
        }
    }
}

/// An Ingress decoded into the v1 shape the rules read, remembering which version it was written
/// in; its strings are borrowed from the text it was read from where they can be.
#[derive(Debug, Clone)]
pub struct DecodedIngress<'a> {
    pub ingress: Ingress<'a>,
    pub version: IngressVersion,
}

impl DecodedIngress<'_> {
    /// `metadata.name`, or `""` (an object with only `generateName` has none yet).
    pub fn name(&self) -> &str {
        self.ingress.metadata.name.as_deref().unwrap_or_default()
    }

    /// A v1 field path (as the rules write it) in the spelling of the version the user wrote.
    pub fn field_path(&self, v1_path: &str) -> String {
        field_path(self.version, v1_path)
    }
}

/// A v1 field path in the spelling of `version`.
pub fn field_path(version: IngressVersion, v1_path: &str) -> String {
    match version {
        IngressVersion::NetworkingV1 => v1_path.to_owned(),
        IngressVersion::Beta1 => beta1_field_path(v1_path),
    }
}

/// Why an object could not be read as an Ingress.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("apiVersion {0:?} is not an Ingress version this webhook understands")]
    UnknownVersion(String),
    #[error("object is not a valid Ingress: {0}")]
    Invalid(String),
}

/// Decodes an Ingress given as JSON. `api_version` is the object's own `apiVersion` if it has one,
/// else the version from the admission request's `kind`.
pub fn decode(api_version: &str, object: Value) -> Result<DecodedIngress<'static>, DecodeError> {
    let version = IngressVersion::from_api_version(api_version)
        .ok_or_else(|| DecodeError::UnknownVersion(api_version.to_owned()))?;
    let object = match version {
        IngressVersion::NetworkingV1 => object,
        IngressVersion::Beta1 => beta1_to_v1(object),
    };
    let ingress = read_k8s(version, &object)?;
    Ok(DecodedIngress { ingress, version })
}

/// [`decode`] from a borrowed object: a v1 object is read in place, without the copy `decode`
/// would need (the copy of a body's value tree cost as much as reading it).
pub fn decode_value(
    api_version: &str,
    object: &Value,
) -> Result<DecodedIngress<'static>, DecodeError> {
    match IngressVersion::from_api_version(api_version) {
        Some(IngressVersion::NetworkingV1) => Ok(DecodedIngress {
            ingress: read_k8s(IngressVersion::NetworkingV1, object)?,
            version: IngressVersion::NetworkingV1,
        }),
        _ => decode(api_version, object.clone()),
    }
}

/// A v1-shaped value tree read as k8s-openapi reads it (checking `apiVersion` and `kind`, naming
/// the field it refuses), as the rules read it. Not the review path: another version, an object
/// the one-pass reader refused, an object a front end holds as a value tree.
fn read_k8s(version: IngressVersion, object: &Value) -> Result<Ingress<'static>, DecodeError> {
    let ingress =
        k8s::Ingress::deserialize(object).map_err(|_| invalid_at_path(version, object))?;
    Ok(Ingress::from_k8s(&ingress).into_owned())
}

/// Why an object (already in the v1 shape) is not an Ingress, led by the field path in the
/// spelling of the version the user wrote: `spec.tls: invalid type: map, expected a sequence`.
/// Only a failed decode pays for tracking the path.
fn invalid_at_path(version: IngressVersion, object: &Value) -> DecodeError {
    let Err(error) = serde_path_to_error::deserialize::<_, k8s::Ingress>(object) else {
        return DecodeError::Invalid("does not decode".into());
    };
    let path = error.path().to_string();
    let message = one_line(&error.into_inner().to_string());
    if path.is_empty() || path == "." {
        DecodeError::Invalid(message)
    } else {
        DecodeError::Invalid(format!("{}: {message}", field_path(version, &path)))
    }
}

/// An object's `apiVersion`: its own when it has one, else `fallback` (the admission request's
/// kind, or what a manifest reader assumes).
pub fn api_version_of(object: &Value, fallback: &str) -> String {
    object
        .get("apiVersion")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .unwrap_or(fallback)
        .to_owned()
}

/// Drops what no rule reads and what makes a `kubectl get` copy of an object several times the
/// size of the manifest: `metadata.managedFields` and the last-applied annotation.
pub fn drop_unread(object: &mut Value) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    metadata.remove("managedFields");
    if let Some(annotations) = metadata
        .get_mut("annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(view::LAST_APPLIED);
    }
}

/// Decodes an Ingress from its JSON text, in its own `apiVersion` or else `fallback`'s. A v1
/// object (what the webhook registers for) is read in one pass, borrowing from `text` and
/// keeping only what the rules read ([`view`]); another version goes through a value tree and
/// the v1beta1 conversion.
pub fn decode_raw<'a>(
    text: &'a str,
    fallback_api_version: &str,
) -> Result<DecodedIngress<'a>, DecodeError> {
    let invalid = |e: serde_json::Error| DecodeError::Invalid(one_line(&e.to_string()));
    let assume_v1 = fallback_api_version == "networking.k8s.io/v1";
    // An object the one-pass reader refuses is read again below, which names the field.
    if let Ok(ingress) = Ingress::read(text)
        && ingress.is_v1(assume_v1)
    {
        return Ok(DecodedIngress {
            ingress,
            version: IngressVersion::NetworkingV1,
        });
    }
    let object: Value = serde_json::from_str(text).map_err(invalid)?;
    decode_value(&api_version_of(&object, fallback_api_version), &object)
}

/// Rewrites a v1beta1 Ingress JSON object into the v1 shape. Unknown fields are left alone.
fn beta1_to_v1(mut object: Value) -> Value {
    if let Some(obj) = object.as_object_mut() {
        obj.insert(
            "apiVersion".into(),
            Value::String("networking.k8s.io/v1".into()),
        );
    }
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return object;
    };
    if let Some(mut backend) = spec.remove("backend") {
        convert_backend(&mut backend);
        spec.insert("defaultBackend".into(), backend);
    }
    if let Some(rules) = spec.get_mut("rules").and_then(Value::as_array_mut) {
        for rule in rules {
            let paths = rule
                .get_mut("http")
                .and_then(|http| http.get_mut("paths"))
                .and_then(Value::as_array_mut);
            for path in paths.into_iter().flatten() {
                if let Some(backend) = path.get_mut("backend") {
                    convert_backend(backend);
                }
            }
        }
    }
    object
}

/// `{serviceName, servicePort}` → `{service: {name, port: {number | name}}}`.
fn convert_backend(backend: &mut Value) {
    let Some(b) = backend.as_object_mut() else {
        return;
    };
    let name = b.remove("serviceName");
    let port = b.remove("servicePort");
    if name.is_none() && port.is_none() {
        return;
    }
    let mut service = Map::new();
    if let Some(name) = name {
        service.insert("name".into(), name);
    }
    if let Some(port) = port {
        let mut p = Map::new();
        match port {
            Value::Number(n) => {
                p.insert("number".into(), Value::Number(n));
            }
            Value::String(s) => match s.parse::<i32>() {
                Ok(n) => {
                    p.insert("number".into(), Value::from(n));
                }
                Err(_) => {
                    p.insert("name".into(), Value::String(s));
                }
            },
            other => {
                p.insert("name".into(), other);
            }
        }
        service.insert("port".into(), Value::Object(p));
    }
    b.insert("service".into(), Value::Object(service));
}

/// Maps a v1 field path to its v1beta1 spelling.
fn beta1_field_path(v1_path: &str) -> String {
    const RENAMES: [(&str, &str); 5] = [
        ("backend.service.port.number", "backend.servicePort"),
        ("backend.service.port.name", "backend.servicePort"),
        ("backend.service.port", "backend.servicePort"),
        ("backend.service.name", "backend.serviceName"),
        ("backend.service", "backend.serviceName"),
    ];
    let path = v1_path.replacen("spec.defaultBackend", "spec.backend", 1);
    for (v1, beta1) in RENAMES {
        if let Some(at) = path.find(v1) {
            let rest = &path[at + v1.len()..];
            if rest.is_empty() || rest.starts_with(['.', '[']) {
                return format!("{}{beta1}{rest}", &path[..at]);
            }
        }
    }
    path
}

/// The rule-mix key set to `"true"`: the documented one, else the spelling of the regex-rules
/// page. Every reader of rule-mix asks this, so both spellings mean the same everywhere.
pub fn rule_mix_key(annotations: Option<&Annotations<'_>>) -> Option<&'static str> {
    [keys::RULE_MIX, keys::RULE_MIX_ALT]
        .into_iter()
        .find(|key| {
            annotations
                .and_then(|a| a.get(key))
                .is_some_and(|v| v == "true")
        })
}

/// Annotation keys that more than one layer needs. The full catalogue lives in the rules.
pub mod keys {
    pub const CLASS: &str = "kubernetes.io/ingress.class";
    pub const EXIST_LB_ID: &str = "kubernetes.io/ingress.existLbId";
    pub const LOADBALANCE_ID: &str = "kubernetes.io/ingress.qcloud-loadbalance-id";
    pub const ENABLE_GROUP: &str = "ingress.cloud.tencent.com/enable-group";
    pub const RULE_MIX: &str = "kubernetes.io/ingress.rule-mix";
    /// rule-mix as TKE's regex-rules page spells it; whether the controller reads this spelling
    /// is not documented, so it counts as rule-mix and draws a warning (docs/tke-behaviour.md §3.4).
    pub const RULE_MIX_ALT: &str = "ingress.cloud.tencent.com/rule-mix";
    pub const RULE_MIX_BOTH: &str = "kubernetes.io/ingress.rule-mix-both";
    pub const HTTP_RULES: &str = "kubernetes.io/ingress.http-rules";
    pub const HTTPS_RULES: &str = "kubernetes.io/ingress.https-rules";
    pub const LISTEN_PORTS: &str = "ingress.cloud.tencent.com/listen-ports";
    pub const CERTIFICATE: &str = "ingress.cloud.tencent.com/certificate";
    pub const SUBNET_ID: &str = "kubernetes.io/ingress.subnetId";
    pub const CHARGE_TYPE: &str = "kubernetes.io/ingress.internetChargeType";
    pub const BANDWIDTH: &str = "kubernetes.io/ingress.internetMaxBandwidthOut";
    pub const EXTENSIVE_PARAMETERS: &str = "kubernetes.io/ingress.extensiveParameters";
    pub const CROSS_VPC_ID: &str = "ingress.cloud.tencent.com/cross-vpc-id";
    pub const DIRECT_ACCESS: &str = "ingress.cloud.tencent.com/direct-access";
    pub const REWRITE_SUPPORT: &str = "ingress.cloud.tencent.com/rewrite-support";
    pub const AUTO_REWRITE: &str = "ingress.cloud.tencent.com/auto-rewrite";
    pub const AUTO_REWRITE_CODE: &str = "ingress.cloud.tencent.com/auto-rewrite-code";
    pub const LB_RS_WEIGHT: &str = "ingress.cloud.tencent.com/lb-rs-weight";
}

/// The class name TKE's CLB controller answers to.
pub const QCLOUD_CLASS: &str = "qcloud";

/// True when TKE's CLB controller handles this Ingress: the class annotation or
/// `spec.ingressClassName` is `qcloud`, or neither is set (an empty annotation counts as unset).
pub fn is_qcloud(ingress: &Ingress<'_>) -> bool {
    let annotation = ingress
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(keys::CLASS))
        .map(Str::as_str)
        .filter(|v| !v.is_empty());
    let class_name = ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref());
    match (annotation, class_name) {
        (None, None) => true,
        (a, c) => a == Some(QCLOUD_CLASS) || c == Some(QCLOUD_CLASS),
    }
}

pub use crate::text::one_line;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn beta1_backends_become_v1_services() {
        let object = json!({
            "apiVersion": "extensions/v1beta1",
            "kind": "Ingress",
            "metadata": {"name": "demo", "namespace": "default"},
            "spec": {
                "backend": {"serviceName": "fallback", "servicePort": 8080},
                "rules": [{"host": "www1.happylau.cn", "http": {"paths": [
                    {"path": "/", "backend": {"serviceName": "tke-app-1", "servicePort": 80}},
                    {"path": "/x", "backend": {"serviceName": "tke-app-2", "servicePort": "http"}},
                    {"path": "/y", "backend": {"serviceName": "tke-app-3", "servicePort": "81"}}
                ]}}]
            }
        });
        let decoded = decode("extensions/v1beta1", object).unwrap();
        assert_eq!(decoded.version, IngressVersion::Beta1);
        let spec = decoded.ingress.spec.unwrap();
        let default = spec.default_backend.unwrap().service.unwrap();
        assert_eq!(default.name, "fallback");
        assert_eq!(default.port.unwrap().number, Some(8080));
        let rules = spec.rules.unwrap();
        let paths = &rules[0].http.as_ref().unwrap().paths;
        let port = |i: usize| {
            paths[i]
                .backend
                .service
                .as_ref()
                .unwrap()
                .port
                .clone()
                .unwrap()
        };
        assert_eq!(paths[0].backend.service.as_ref().unwrap().name, "tke-app-1");
        assert_eq!(port(0).number, Some(80));
        assert_eq!(port(1).name.as_deref(), Some("http"));
        assert_eq!(port(2).number, Some(81));
    }

    #[test]
    fn field_paths_follow_the_written_version() {
        let decoded = decode(
            "networking.k8s.io/v1beta1",
            json!({"metadata": {"name": "x"}}),
        )
        .unwrap();
        assert_eq!(
            decoded.field_path("spec.rules[0].http.paths[1].backend.service.port.number"),
            "spec.rules[0].http.paths[1].backend.servicePort"
        );
        assert_eq!(
            decoded.field_path("spec.defaultBackend.service.name"),
            "spec.backend.serviceName"
        );
        let v1 = decode("networking.k8s.io/v1", json!({"metadata": {"name": "x"}})).unwrap();
        assert_eq!(
            v1.field_path("spec.defaultBackend.service.name"),
            "spec.defaultBackend.service.name"
        );
    }

    #[test]
    fn qcloud_selection() {
        let with = |annotation: Option<&str>, class: Option<&str>| {
            let mut object = json!({"metadata": {"name": "x"}, "spec": {}});
            if let Some(a) = annotation {
                object["metadata"]["annotations"] = json!({ keys::CLASS: a });
            }
            if let Some(c) = class {
                object["spec"]["ingressClassName"] = json!(c);
            }
            is_qcloud(&decode("networking.k8s.io/v1", object).unwrap().ingress)
        };
        assert!(with(None, None));
        assert!(with(Some("qcloud"), None));
        assert!(with(None, Some("qcloud")));
        assert!(with(Some(""), None));
        assert!(with(Some("qcloud"), Some("qcloud")));
        assert!(!with(Some("nginx"), None));
        assert!(!with(None, Some("nginx")));
        assert!(!with(Some("Qcloud"), None));
    }

    #[test]
    fn decode_value_reads_in_place_what_decode_reads() {
        let v1 = json!({"apiVersion": "networking.k8s.io/v1", "metadata": {"name": "x"},
                        "spec": {"rules": [{"host": "a.example.com"}]}});
        let beta1 = json!({"metadata": {"name": "y"},
                           "spec": {"backend": {"serviceName": "s", "servicePort": 80}}});
        for (version, object) in [("networking.k8s.io/v1", v1), ("extensions/v1beta1", beta1)] {
            let by_ref = decode_value(version, &object).unwrap();
            let by_value = decode(version, object).unwrap();
            assert_eq!(by_ref.ingress, by_value.ingress);
            assert_eq!(by_ref.version, by_value.version);
        }
        assert_eq!(
            decode_value("v1", &json!({})).unwrap_err(),
            DecodeError::UnknownVersion("v1".into())
        );
        let bad = json!({"spec": {"rules": "nope"}});
        assert_eq!(
            decode_value("networking.k8s.io/v1", &bad).unwrap_err(),
            decode("networking.k8s.io/v1", bad).unwrap_err()
        );
    }

    #[test]
    fn unknown_versions_and_bad_objects_are_errors() {
        assert_eq!(
            decode("v1", json!({})).unwrap_err(),
            DecodeError::UnknownVersion("v1".into())
        );
        let err = decode("networking.k8s.io/v1", json!({"spec": {"rules": "nope"}})).unwrap_err();
        assert!(matches!(err, DecodeError::Invalid(_)), "{err:?}");
    }

    #[test]
    fn a_bad_field_is_named_in_the_version_the_user_wrote() {
        let message = |api_version: &str, object: Value| {
            let text = object.to_string();
            let from_value = decode(api_version, object).unwrap_err().to_string();
            assert_eq!(
                decode_raw(&text, api_version).unwrap_err().to_string(),
                from_value
            );
            from_value
        };
        assert_eq!(
            message(
                "networking.k8s.io/v1",
                json!({"spec": {"tls": {"secretName": "x"}}})
            ),
            "object is not a valid Ingress: spec.tls: invalid type: map, expected a sequence"
        );
        let beta1 = json!({"spec": {"rules": [{"http": {"paths": [
            {"backend": {"serviceName": ["web"], "servicePort": 80}}]}}]}});
        assert_eq!(
            message("networking.k8s.io/v1beta1", beta1),
            "object is not a valid Ingress: \
             spec.rules[0].http.paths[0].backend.serviceName: invalid type: sequence, expected a string"
        );
    }
}
