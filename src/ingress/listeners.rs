//! What TKE builds from an Ingress, as far as listeners go: which listeners (protocol and port)
//! the CLB gets, and which of them each spec path lands on (behaviour spec §3.2, §11.4). The
//! rules, the cluster view's Ingress summaries and `plan` all read this one model, so a plan, a
//! verdict and a conflict check cannot disagree about where a rule is.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress};
use serde_json::Value;

use super::keys;

/// A listener's protocol. TKE's Ingress makes only layer-7 listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Http,
    Https,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
        }
    }
}

/// A CLB listener: protocol and port, e.g. `HTTPS:443`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Listener {
    pub protocol: Protocol,
    pub port: u16,
}

impl Listener {
    pub const HTTP_80: Self = Self {
        protocol: Protocol::Http,
        port: 80,
    };
    pub const HTTPS_443: Self = Self {
        protocol: Protocol::Https,
        port: 443,
    };
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.protocol.as_str(), self.port)
    }
}

/// The listeners an Ingress asks for: the `listen-ports` annotation when it is set and reads as
/// `[{"HTTP": 80}, {"HTTPS": 443}, ...]`, else HTTP:80 and HTTPS:443.
pub fn declared(annotations: Option<&BTreeMap<String, String>>) -> Vec<Listener> {
    let listed = annotations
        .and_then(|a| a.get(keys::LISTEN_PORTS))
        .and_then(|text| serde_json::from_str::<Value>(text.trim()).ok())
        .and_then(|value| parse_listen_ports(&value));
    listed.unwrap_or_else(|| vec![Listener::HTTP_80, Listener::HTTPS_443])
}

/// `None` unless every entry is a one-key object of a protocol and a port.
fn parse_listen_ports(value: &Value) -> Option<Vec<Listener>> {
    let mut listeners = Vec::new();
    for item in value.as_array()? {
        let map = item.as_object()?;
        let [(protocol, port)] = map.iter().collect::<Vec<_>>()[..] else {
            return None;
        };
        let protocol = match protocol.as_str() {
            "HTTP" => Protocol::Http,
            "HTTPS" => Protocol::Https,
            _ => return None,
        };
        let port = u16::try_from(port.as_u64()?).ok()?;
        listeners.push(Listener { protocol, port });
    }
    Some(listeners)
}

/// One entry of `kubernetes.io/ingress.http-rules` / `https-rules` as TKE matches it to a spec
/// path: host (`""` = the CLB's default domain), path (`/` when omitted), backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub host: String,
    pub path: String,
    /// `(serviceName, servicePort)`, the port as written (`"80"`; a JSON number as its digits).
    pub backend: Option<(String, String)>,
    /// A redirect entry (`rewrite`), which needs no spec path.
    pub is_redirect: bool,
    /// Where a redirect entry sends requests.
    pub rewrite: Option<Rewrite>,
}

/// The `rewrite` of a redirect entry: the target listener's port, host and path, each optional
/// (the host and path default to the entry's own).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rewrite {
    pub port: Option<u16>,
    pub host: Option<String>,
    pub path: Option<String>,
}

impl Rewrite {
    fn from_value(value: &Value) -> Self {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let port = match value.get("port") {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        Self {
            port,
            host: text("host").filter(|h| !h.is_empty()),
            path: text("path").filter(|p| !p.is_empty()),
        }
    }
}

impl Entry {
    /// Reads one entry; missing fields take TKE's defaults.
    pub fn from_value(item: &Value) -> Self {
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let path = text(item.get("path"));
        Self {
            host: text(item.get("host")),
            path: if path.is_empty() {
                "/".to_owned()
            } else {
                path
            },
            backend: item
                .get("backend")
                .map(|b| (text(b.get("serviceName")), text(b.get("servicePort")))),
            is_redirect: item.get("rewrite").is_some(),
            rewrite: item.get("rewrite").map(Rewrite::from_value),
        }
    }

    /// TKE matches an entry to a spec path on host, path, service name and port.
    pub fn matches(&self, path: &SpecPath<'_>) -> bool {
        self.host == path.host
            && self.path == path.url
            && self
                .backend
                .as_ref()
                .zip(path.backend())
                .is_some_and(|((service, port), (s, p))| service == s && *port == p)
    }
}

/// The entries of one rules annotation, or none when it is absent, `null` or not JSON.
pub fn entries(annotations: Option<&BTreeMap<String, String>>, key: &str) -> Vec<Entry> {
    annotations
        .and_then(|a| a.get(key))
        .and_then(|text| serde_json::from_str::<Value>(text.trim()).ok())
        .and_then(|v| {
            v.as_array()
                .map(|items| items.iter().map(Entry::from_value).collect())
        })
        .unwrap_or_default()
}

/// A spec path with the keys TKE matches annotation entries on.
#[derive(Debug, Clone, Copy)]
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
    pub fn backend(&self) -> Option<(&'a str, String)> {
        let service = self.path.backend.service.as_ref()?;
        let port = service.port.as_ref().map_or_else(String::new, |p| {
            p.number
                .map_or_else(|| p.name.clone().unwrap_or_default(), |n| n.to_string())
        });
        Some((service.name.as_str(), port))
    }
}

/// Every spec path of an Ingress, with its defaults filled in.
pub fn spec_paths(ingress: &Ingress) -> impl Iterator<Item = SpecPath<'_>> {
    let rules = ingress.spec.as_ref().and_then(|s| s.rules.as_deref());
    rules
        .unwrap_or_default()
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

/// Which protocols a spec path is served on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub http: bool,
    pub https: bool,
    /// Under rule-mix, listed in neither annotation: HTTPS by default.
    pub https_by_default: bool,
}

impl Placement {
    pub fn serves(&self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Http => self.http,
            Protocol::Https => self.https,
        }
    }
}

/// What decides placement: the Ingress's switches and its rules annotations.
#[derive(Debug, Clone)]
pub struct Layout {
    pub listeners: Vec<Listener>,
    pub certificates: bool,
    pub rule_mix: bool,
    pub rule_mix_both: bool,
    pub http_entries: Vec<Entry>,
    pub https_entries: Vec<Entry>,
}

impl Layout {
    pub fn of(ingress: &Ingress) -> Self {
        let annotations = ingress.metadata.annotations.as_ref();
        let is_true = |key: &str| {
            annotations
                .and_then(|a| a.get(key))
                .is_some_and(|v| v == "true")
        };
        let tls = ingress
            .spec
            .as_ref()
            .and_then(|s| s.tls.as_ref())
            .is_some_and(|t| !t.is_empty());
        Self {
            listeners: declared(annotations),
            certificates: tls || annotations.is_some_and(|a| a.contains_key(keys::CERTIFICATE)),
            rule_mix: is_true(keys::RULE_MIX),
            rule_mix_both: is_true(keys::RULE_MIX_BOTH),
            http_entries: entries(annotations, keys::HTTP_RULES),
            https_entries: entries(annotations, keys::HTTPS_RULES),
        }
    }

    /// Which protocols a spec path is on (behaviour spec §3.2): without certificates everything
    /// is HTTP; with them and no rule-mix, everything HTTPS; under rule-mix where the annotations
    /// list it (HTTPS when neither does); under rule-mix-both, both.
    pub fn placement(&self, path: &SpecPath<'_>) -> Placement {
        let only = |http: bool, https: bool| Placement {
            http,
            https,
            https_by_default: false,
        };
        if self.rule_mix_both {
            return only(true, self.certificates);
        }
        if !self.certificates {
            return only(true, false);
        }
        if !self.rule_mix {
            return only(false, true);
        }
        let listed = |entries: &[Entry]| entries.iter().any(|e| e.matches(path));
        let http = listed(&self.http_entries);
        let https = listed(&self.https_entries);
        Placement {
            http,
            https: https || !http,
            https_by_default: !http && !https,
        }
    }

    /// The listeners a spec path lands on: every declared listener of each protocol it is on.
    pub fn listeners_of(&self, path: &SpecPath<'_>) -> Vec<Listener> {
        let placement = self.placement(path);
        self.listeners
            .iter()
            .copied()
            .filter(|l| placement.serves(l.protocol))
            .collect()
    }
}

/// A host+path rule on one listener of the CLB.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    pub listener: Listener,
    pub host: String,
    pub path: String,
}

/// Every rule an Ingress puts on its CLB, one per spec path and listener.
pub fn routes(ingress: &Ingress) -> Vec<Route> {
    let layout = Layout::of(ingress);
    spec_paths(ingress)
        .flat_map(|path| {
            layout
                .listeners_of(&path)
                .into_iter()
                .map(move |listener| Route {
                    listener,
                    host: path.host.to_owned(),
                    path: path.url.to_owned(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress(annotations: &Value, tls: bool) -> Ingress {
        let mut object = json!({
            "metadata": {"name": "x", "annotations": annotations.clone()},
            "spec": {"rules": [{"host": "a.example.com", "http": {"paths": [
                {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                {"path": "/api", "backend": {"service": {"name": "api", "port": {"number": 8080}}}}
            ]}}]}
        });
        if tls {
            object["spec"]["tls"] = json!([{"secretName": "cert"}]);
        }
        serde_json::from_value(object).unwrap()
    }

    fn listeners_of(routes: &[Route], path: &str) -> Vec<String> {
        routes
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.listener.to_string())
            .collect()
    }

    #[test]
    fn without_tls_everything_is_on_http_80() {
        let routes = routes(&ingress(&json!({}), false));
        assert_eq!(listeners_of(&routes, "/"), ["HTTP:80"]);
        assert_eq!(listeners_of(&routes, "/api"), ["HTTP:80"]);
    }

    #[test]
    fn tls_without_rule_mix_is_https_only() {
        let routes = routes(&ingress(&json!({}), true));
        assert_eq!(listeners_of(&routes, "/"), ["HTTPS:443"]);
    }

    #[test]
    fn rule_mix_places_paths_where_the_annotations_list_them() {
        let annotations = json!({
            "kubernetes.io/ingress.rule-mix": "true",
            "kubernetes.io/ingress.http-rules":
                r#"[{"host":"a.example.com","path":"/","backend":{"serviceName":"web","servicePort":"80"}}]"#,
            "kubernetes.io/ingress.https-rules":
                r#"[{"host":"a.example.com","path":"/","backend":{"serviceName":"web","servicePort":80}}]"#,
        });
        let routes = routes(&ingress(&annotations, true));
        assert_eq!(listeners_of(&routes, "/"), ["HTTP:80", "HTTPS:443"]);
        // Listed nowhere: HTTPS.
        assert_eq!(listeners_of(&routes, "/api"), ["HTTPS:443"]);
    }

    #[test]
    fn listen_ports_choose_the_ports() {
        let annotations = json!({
            "ingress.cloud.tencent.com/listen-ports": r#"[{"HTTP": 81}, {"HTTP": 8080}, {"HTTPS": 8443}]"#,
        });
        let routes = routes(&ingress(&annotations, false));
        assert_eq!(listeners_of(&routes, "/"), ["HTTP:81", "HTTP:8080"]);
        let broken = json!({"ingress.cloud.tencent.com/listen-ports": r#"[{"HTTP": "81"}]"#});
        assert_eq!(
            declared(ingress(&broken, false).metadata.annotations.as_ref()),
            [Listener::HTTP_80, Listener::HTTPS_443]
        );
    }

    #[test]
    fn rule_mix_both_puts_every_path_on_both() {
        let annotations = json!({"kubernetes.io/ingress.rule-mix-both": "true"});
        let routes = routes(&ingress(&annotations, true));
        assert_eq!(listeners_of(&routes, "/api"), ["HTTP:80", "HTTPS:443"]);
    }
}
