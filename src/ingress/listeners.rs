//! What TKE builds from an Ingress, as far as listeners go: which listeners (protocol and port)
//! the CLB gets, and which of them each spec path lands on (docs/tke-behaviour.md §3.2, §2.6).
//! The rules, the cluster view's Ingress summaries and `plan` all read this one model, so a plan,
//! a verdict and a conflict check cannot disagree about where a rule is.

use std::fmt;

use crate::ingress::view::{Annotations, HTTPIngressPath, Ingress};
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
pub fn declared(annotations: Option<&Annotations<'_>>) -> Vec<Listener> {
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
    /// The entry carries `pathType`: TKE makes the rule it selects a regex, exact or prefix
    /// CLB rule (docs/tke-behaviour.md §3.4), and its path is written regex-escaped.
    pub path_type: bool,
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
            path_type: item.get("pathType").is_some(),
        }
    }

    /// TKE matches an entry to a spec path on host, path, service name and port.
    pub fn matches(&self, path: &SpecPath<'_>) -> bool {
        self.host == path.host
            && self.selects_url(path.url)
            && self
                .backend
                .as_ref()
                .zip(path.backend_ref())
                .is_some_and(|((service, port), (s, p))| service == s && p.is(port))
    }
}

impl Entry {
    /// The entry's path selects the spec path `url`: the same text, or for an entry with
    /// `pathType` the spec path with its backslashes doubled, or with the `~`, `~*` or `=` marker
    /// in front (the regex-rules page leaves which of these TKE expects unclear, so all match).
    fn selects_url(&self, url: &str) -> bool {
        if self.path == url {
            return true;
        }
        if !self.path_type {
            return false;
        }
        let unmarked = ["~*", "~", "="]
            .iter()
            .find_map(|marker| self.path.strip_prefix(marker))
            .unwrap_or(&self.path);
        unmarked == url || unmarked.replace("\\\\", "\\") == url
    }
}

/// The entries of one rules annotation, or none when it is absent, `null` or not JSON.
pub fn entries(annotations: Option<&Annotations<'_>>, key: &str) -> Vec<Entry> {
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
    pub path: &'a HTTPIngressPath<'a>,
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
        self.backend_ref()
            .map(|(service, port)| (service, port.to_string()))
    }

    /// [`SpecPath::backend`] without allocating.
    pub fn backend_ref(&self) -> Option<(&'a str, PortRef<'a>)> {
        let service = self.path.backend.service.as_ref()?;
        let port = match &service.port {
            Some(p) => match p.number {
                Some(n) => PortRef::Number(n),
                None => PortRef::Text(p.name.as_deref().unwrap_or_default()),
            },
            None => PortRef::Text(""),
        };
        Some((service.name.as_str(), port))
    }
}

/// A spec backend's port as TKE compares it: the number's digits, or the name (`""` for none).
/// Equal when the text is.
#[derive(Debug, Clone, Copy)]
pub enum PortRef<'a> {
    Number(i32),
    Text(&'a str),
}

impl PortRef<'_> {
    /// True when the port reads as `text`.
    pub fn is(self, text: &str) -> bool {
        match self {
            Self::Text(own) => own == text,
            Self::Number(n) => {
                let mut digits = [0u8; 11];
                text.as_bytes() == decimal(n, &mut digits)
            }
        }
    }
}

impl PartialEq for PortRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        match *other {
            Self::Text(text) => self.is(text),
            Self::Number(n) => {
                let mut digits = [0u8; 11];
                std::str::from_utf8(decimal(n, &mut digits)).is_ok_and(|text| self.is(text))
            }
        }
    }
}

impl fmt::Display for PortRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(text) => f.write_str(text),
        }
    }
}

/// `n`'s decimal digits (with a leading `-`), written into `buf` from the end.
fn decimal(n: i32, buf: &mut [u8; 11]) -> &[u8] {
    let mut rest = n.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + u8::try_from(rest % 10).unwrap_or_default();
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// Every spec path of an Ingress, with its defaults filled in.
pub fn spec_paths<'a>(ingress: &'a Ingress<'a>) -> impl Iterator<Item = SpecPath<'a>> {
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
    pub fn of(ingress: &Ingress<'_>) -> Self {
        let annotations = ingress.metadata.annotations.as_ref();
        Self::with_entries(
            ingress,
            entries(annotations, keys::HTTP_RULES),
            entries(annotations, keys::HTTPS_RULES),
        )
    }

    /// The layout with rules-annotation entries already read (the rules read only those that
    /// passed their schema, and parse each annotation once).
    pub fn with_entries(ingress: &Ingress<'_>, http: Vec<Entry>, https: Vec<Entry>) -> Self {
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
            rule_mix: crate::ingress::rule_mix_key(annotations).is_some(),
            rule_mix_both: is_true(keys::RULE_MIX_BOTH),
            http_entries: http,
            https_entries: https,
        }
    }

    /// Which protocols a spec path is on (docs/tke-behaviour.md §3.2): without certificates
    /// everything is HTTP; with them and no rule-mix, everything HTTPS; under rule-mix where the
    /// annotations list it (HTTPS when neither does); under rule-mix-both, both.
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
    pub fn listeners_of<'s>(
        &'s self,
        path: &SpecPath<'_>,
    ) -> impl Iterator<Item = Listener> + use<'s> {
        let placement = self.placement(path);
        self.listeners
            .iter()
            .copied()
            .filter(move |l| placement.serves(l.protocol))
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
pub fn routes(ingress: &Ingress<'_>) -> Vec<Route> {
    let layout = Layout::of(ingress);
    spec_paths(ingress)
        .flat_map(|path| {
            layout.listeners_of(&path).map(move |listener| Route {
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

    fn ingress(annotations: &Value, tls: bool) -> Ingress<'static> {
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
        Ingress::from_value(object).unwrap()
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
    fn ports_compare_as_their_text() {
        for n in [0, 7, 80, 65535, -1, i32::MIN, i32::MAX] {
            assert!(PortRef::Number(n).is(&n.to_string()), "{n}");
            assert_eq!(PortRef::Number(n).to_string(), n.to_string());
        }
        assert!(!PortRef::Number(80).is("080"));
        assert!(!PortRef::Number(80).is("8"));
        assert!(!PortRef::Number(8).is("80"));
        assert!(PortRef::Text("http").is("http"));
        assert!(PortRef::Text("").is(""));
        assert_eq!(PortRef::Number(80), PortRef::Text("80"));
        assert_eq!(PortRef::Text("80"), PortRef::Number(80));
        assert_ne!(PortRef::Number(80), PortRef::Number(81));
        assert_ne!(PortRef::Text("http"), PortRef::Text(""));
    }

    #[test]
    fn rule_mix_both_puts_every_path_on_both() {
        let annotations = json!({"kubernetes.io/ingress.rule-mix-both": "true"});
        let routes = routes(&ingress(&annotations, true));
        assert_eq!(listeners_of(&routes, "/api"), ["HTTP:80", "HTTPS:443"]);
    }
}
