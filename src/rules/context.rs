//! The Ingress under review, read once into the shape the checks need: annotations, spec rules,
//! the parsed http/https-rules entries, and which listener (HTTP, HTTPS) each spec path lands on.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, Ingress, IngressBackend, IngressRule, IngressTLS,
};
use serde_json::Value;

use super::Operation;
use super::annotations as keys;
use crate::cluster::ClusterLookup;

static NO_ANNOTATIONS: BTreeMap<String, String> = BTreeMap::new();

/// One entry of `kubernetes.io/ingress.http-rules` or `https-rules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The annotation it came from.
    pub key: &'static str,
    pub index: usize,
    /// `""` when omitted: the CLB default domain.
    pub host: String,
    /// `/` when omitted.
    pub path: String,
    pub backend: Option<EntryBackend>,
    pub has_rewrite: bool,
    /// Keys TKE does not read, as `host`-level names or `backend.x`.
    pub unknown_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryBackend {
    pub service: String,
    /// Always a string: TKE documents `"80"`; a JSON number is accepted and kept as its digits.
    pub port: String,
}

impl Entry {
    pub fn field(&self) -> String {
        format!("metadata.annotations[{}][{}]", self.key, self.index)
    }
}

/// Where a spec path is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub http: bool,
    pub https: bool,
    /// Under rule-mix, listed in neither annotation: HTTPS by default.
    pub https_by_default: bool,
}

/// A spec path with the keys TKE matches annotation entries on.
pub struct SpecPath<'a> {
    pub rule_index: usize,
    pub path_index: usize,
    pub path: &'a HTTPIngressPath,
    /// `""` for no host.
    pub host: &'a str,
    /// `/` for none.
    pub url: &'a str,
}

impl<'a> SpecPath<'a> {
    pub fn field(&self) -> String {
        format!(
            "spec.rules[{}].http.paths[{}]",
            self.rule_index, self.path_index
        )
    }

    /// `(service, port)` as TKE compares them: the port number's digits, or its name.
    pub fn backend_key(&self) -> Option<(&'a str, String)> {
        let service = self.path.backend.service.as_ref()?;
        let port = service.port.as_ref().map_or_else(String::new, |p| {
            p.number
                .map_or_else(|| p.name.clone().unwrap_or_default(), |n| n.to_string())
        });
        Some((service.name.as_str(), port))
    }
}

/// Everything a rule may look at: the Ingress under review, read once, and the cluster view.
pub struct Ctx<'a> {
    pub operation: Operation,
    /// The Ingress's namespace (from the request when the object has none).
    pub namespace: &'a str,
    pub name: &'a str,
    pub ingress: &'a Ingress,
    /// The object before an UPDATE.
    pub old: Option<&'a Ingress>,
    /// TKE's CLB controller handles this Ingress (class qcloud, or no class at all).
    pub in_scope: bool,
    pub annotations: &'a BTreeMap<String, String>,
    pub rules: &'a [IngressRule],
    pub tls: &'a [IngressTLS],
    pub default_backend: Option<&'a IngressBackend>,
    pub http_entries: Vec<Entry>,
    pub https_entries: Vec<Entry>,
    /// Parsed JSON annotations that passed their schema, by key.
    pub json: Vec<(&'static str, Value)>,
    pub cluster: &'a dyn ClusterLookup,
}

/// What a [`Ctx`] is built from, besides the parsed JSON annotations.
#[derive(Clone, Copy)]
pub struct Subject<'a> {
    pub operation: Operation,
    pub namespace: &'a str,
    pub ingress: &'a Ingress,
    pub old: Option<&'a Ingress>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        subject: Subject<'a>,
        json: Vec<(&'static str, Value)>,
        cluster: &'a dyn ClusterLookup,
    ) -> Self {
        let ingress = subject.ingress;
        let spec = ingress.spec.as_ref();
        let entries = |key: &'static str| {
            json.iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.as_array())
                .map(|items| {
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| entry(key, i, item))
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            operation: subject.operation,
            namespace: subject.namespace,
            name: ingress.metadata.name.as_deref().unwrap_or_default(),
            ingress,
            old: subject.old,
            in_scope: crate::ingress::is_qcloud(ingress),
            annotations: ingress
                .metadata
                .annotations
                .as_ref()
                .unwrap_or(&NO_ANNOTATIONS),
            rules: spec.and_then(|s| s.rules.as_deref()).unwrap_or_default(),
            tls: spec.and_then(|s| s.tls.as_deref()).unwrap_or_default(),
            default_backend: spec.and_then(|s| s.default_backend.as_ref()),
            http_entries: entries(keys::HTTP_RULES),
            https_entries: entries(keys::HTTPS_RULES),
            json,
            cluster,
        }
    }

    /// An annotation of the object before an UPDATE.
    pub fn old_annotation(&self, key: &str) -> Option<&'a str> {
        self.old
            .and_then(|o| o.metadata.annotations.as_ref())
            .and_then(|a| a.get(key))
            .map(String::as_str)
    }

    pub fn annotation(&self, key: &str) -> Option<&'a str> {
        self.annotations.get(key).map(String::as_str)
    }

    /// How TKE reads a boolean annotation: only `"true"` is on.
    pub fn is_true(&self, key: &str) -> bool {
        self.annotation(key) == Some("true")
    }

    pub fn json(&self, key: &str) -> Option<&Value> {
        self.json.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Certificates come from `spec.tls` or the certificate annotation.
    pub fn has_certificates(&self) -> bool {
        !self.tls.is_empty() || self.annotations.contains_key(keys::CERTIFICATE)
    }

    /// Every spec path, with its defaults filled in.
    pub fn spec_paths(&self) -> impl Iterator<Item = SpecPath<'a>> + 'a {
        self.rules
            .iter()
            .enumerate()
            .flat_map(|(rule_index, rule)| {
                let host = rule.host.as_deref().unwrap_or_default();
                rule.http
                    .iter()
                    .flat_map(|h| h.paths.iter().enumerate())
                    .map(move |(path_index, path)| SpecPath {
                        rule_index,
                        path_index,
                        path,
                        host,
                        url: path
                            .path
                            .as_deref()
                            .filter(|p| !p.is_empty())
                            .unwrap_or("/"),
                    })
            })
    }

    /// Which listeners a spec path is on (behaviour spec §3.2).
    pub fn placement(&self, path: &SpecPath<'_>) -> Placement {
        let tls = self.has_certificates();
        if self.is_true(keys::RULE_MIX_BOTH) {
            return Placement {
                http: true,
                https: tls,
                https_by_default: false,
            };
        }
        if !tls {
            return Placement {
                http: true,
                https: false,
                https_by_default: false,
            };
        }
        if !self.is_true(keys::RULE_MIX) {
            return Placement {
                http: false,
                https: true,
                https_by_default: false,
            };
        }
        let listed = |entries: &[Entry]| entries.iter().any(|e| matches(e, path));
        let http = listed(&self.http_entries);
        let https = listed(&self.https_entries);
        Placement {
            http,
            https: https || !http,
            https_by_default: !http && !https,
        }
    }
}

/// TKE matches an annotation entry to a spec path on host, path, service name and port.
fn matches(entry: &Entry, path: &SpecPath<'_>) -> bool {
    let Some(backend) = &entry.backend else {
        return false;
    };
    entry.host == path.host
        && entry.path == path.url
        && path
            .backend_key()
            .is_some_and(|(service, port)| backend.service == service && backend.port == port)
}

/// Reads one schema-valid entry.
fn entry(key: &'static str, index: usize, item: &Value) -> Entry {
    const KNOWN: [&str; 4] = ["host", "path", "backend", "rewrite"];
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let mut unknown_keys: Vec<String> = item
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .filter(|k| !KNOWN.contains(&k.as_str()))
        .cloned()
        .collect();
    let backend = item.get("backend").map(|b| {
        unknown_keys.extend(
            b.as_object()
                .into_iter()
                .flat_map(|o| o.keys())
                .filter(|k| *k != "serviceName" && *k != "servicePort")
                .map(|k| format!("backend.{k}")),
        );
        EntryBackend {
            service: text(b.get("serviceName")),
            port: text(b.get("servicePort")),
        }
    });
    let path = text(item.get("path"));
    Entry {
        key,
        index,
        host: text(item.get("host")),
        path: if path.is_empty() {
            "/".to_owned()
        } else {
            path
        },
        backend,
        has_rewrite: item.get("rewrite").is_some(),
        unknown_keys,
    }
}
