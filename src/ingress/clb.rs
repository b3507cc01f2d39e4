//! What TKE builds from one Ingress: the CLB (new or existing, public or internal, IP version),
//! its listeners, on each listener the domains with the certificate that serves them and the URL
//! rules with their backends, the redirects, and what TKE ignores (docs/tke-behaviour.md §2–§5).
//!
//! Placement comes from [`super::listeners`]. `plan` prints this model and the rule
//! `tls-host-uncovered` reads its certificate assignment, so a plan and a verdict cannot disagree
//! about which host has which certificate. Cluster facts (a Secret's certificate id, a Service's
//! NodePort) are not here: this layer sits below the cluster view; `plan` adds them.

use crate::ingress::view::{Annotations, Ingress};
use serde_json::Value;

use super::keys;
use super::listeners::{Entry, Layout, Listener, Protocol, SpecPath, spec_paths};

/// Where a certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// `spec.tls[index]` and the Secret it names (`""` when it names none).
    Tls { index: usize, secret: String },
    /// Entry `index` of the certificate annotation, with the ids it lists.
    Annotation { index: usize, cert_ids: Vec<String> },
}

impl CertSource {
    /// The field that declares the certificate.
    pub fn field(&self) -> String {
        match self {
            Self::Tls { index, .. } => format!("spec.tls[{index}]"),
            Self::Annotation { index, .. } => {
                format!("metadata.annotations[{}][{index}]", keys::CERTIFICATE)
            }
        }
    }
}

/// How a certificate is chosen for a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// A host-less entry: serves every HTTPS host that no host-named entry matches.
    Default,
    /// An entry that names the host, exactly or by a one-level wildcard (SNI).
    Sni,
}

/// The certificate that serves one HTTPS domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertAssignment {
    pub kind: CertKind,
    /// The entry's host that matched (SNI only), e.g. `*.example.com`.
    pub matched: Option<String>,
    pub source: CertSource,
}

#[derive(Debug, Clone)]
struct CertEntry {
    hosts: Vec<String>,
    source: CertSource,
}

/// The certificates an Ingress declares: `spec.tls` when it has entries, else the certificate
/// annotation (docs/tke-behaviour.md §4.2).
#[derive(Debug, Clone, Default)]
pub struct Certificates {
    entries: Vec<CertEntry>,
}

impl Certificates {
    /// `annotation` is the parsed certificate annotation (only read without `spec.tls`).
    pub fn of(ingress: &Ingress<'_>, annotation: Option<&Value>) -> Self {
        let tls = ingress.spec.as_ref().and_then(|s| s.tls.as_deref());
        let tls = tls.unwrap_or_default();
        let entries = if tls.is_empty() {
            let items = annotation.and_then(Value::as_array).into_iter().flatten();
            items.enumerate().map(annotation_entry).collect()
        } else {
            let entry = |(index, t): (usize, &crate::ingress::view::IngressTLS)| CertEntry {
                hosts: t
                    .hosts
                    .iter()
                    .flatten()
                    .map(|h| h.as_str().to_owned())
                    .collect(),
                source: CertSource::Tls {
                    index,
                    secret: t.secret_name.as_deref().unwrap_or_default().to_owned(),
                },
            };
            tls.iter().enumerate().map(entry).collect()
        };
        Self { entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every declared certificate, in order.
    pub fn sources(&self) -> impl Iterator<Item = &CertSource> {
        self.entries.iter().map(|e| &e.source)
    }

    /// The certificate serving `host` on HTTPS: an entry naming it exactly, else one whose
    /// one-level wildcard matches it, else the default (host-less) entry. `None` is TKE's E4040.
    pub fn assign(&self, host: &str) -> Option<CertAssignment> {
        let sni = |exact: bool| {
            self.entries.iter().find_map(|e| {
                let found = e.hosts.iter().find(|h| {
                    !host.is_empty() && if exact { *h == host } else { wildcard(h, host) }
                })?;
                Some(CertAssignment {
                    kind: CertKind::Sni,
                    matched: Some(found.clone()),
                    source: e.source.clone(),
                })
            })
        };
        sni(true).or_else(|| sni(false)).or_else(|| {
            let default = self.entries.iter().find(|e| e.hosts.is_empty())?;
            Some(CertAssignment {
                kind: CertKind::Default,
                matched: None,
                source: default.source.clone(),
            })
        })
    }
}

fn annotation_entry((index, item): (usize, &Value)) -> CertEntry {
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    };
    CertEntry {
        hosts: strings(item.get("hosts")),
        source: CertSource::Annotation {
            index,
            cert_ids: strings(item.get("qcloud_cert_id")),
        },
    }
}

/// Exact match, or a one-level wildcard: `*.abc.com` covers `www.abc.com`, not `a.b.abc.com`.
pub fn host_matches(cert: &str, host: &str) -> bool {
    cert == host || wildcard(cert, host)
}

fn wildcard(cert: &str, host: &str) -> bool {
    cert.strip_prefix("*.").is_some_and(|suffix| {
        host.split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix)
    })
}

/// The CLB itself, as the annotations describe it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadBalancer {
    /// `existLbId`: a CLB made in the console; `None`: TKE creates one.
    pub exist_lb_id: Option<String>,
    /// `qcloud-loadbalance-id`: the CLB TKE already uses (written by TKE on a live object).
    pub lb_id: Option<String>,
    /// `subnetId`: an internal CLB in this subnet; `None`: a public one.
    pub subnet_id: Option<String>,
    /// `AddressIPVersion` in extensiveParameters (`IPV4`, `IPV6`, `IPv6FullChain`), when set.
    pub address_ip_version: Option<String>,
    /// `enable-group`: other Ingresses may share the CLB.
    pub enable_group: bool,
}

impl LoadBalancer {
    fn of(annotations: &Annotations<'_>, extensive: Option<&Value>) -> Self {
        let text = |key: &str| {
            annotations
                .get(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Self {
            exist_lb_id: text(keys::EXIST_LB_ID),
            lb_id: text(keys::LOADBALANCE_ID),
            subnet_id: text(keys::SUBNET_ID),
            address_ip_version: extensive
                .and_then(|v| v.get("AddressIPVersion"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            enable_group: annotations
                .get(keys::ENABLE_GROUP)
                .is_some_and(|v| v == "true"),
        }
    }
}

/// One URL rule (host+path) on a listener, from one spec path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRule {
    pub path: String,
    /// `(service, port)`: the port's digits, or its name. `None` for a `backend.resource`.
    pub backend: Option<(String, String)>,
    pub rule_index: usize,
    pub path_index: usize,
    /// Under rule-mix, listed in neither http-rules nor https-rules: HTTPS by default.
    pub https_by_default: bool,
}

impl UrlRule {
    /// `spec.rules[i].http.paths[j]`.
    pub fn field(&self) -> String {
        format!(
            "spec.rules[{}].http.paths[{}]",
            self.rule_index, self.path_index
        )
    }
}

/// A domain on a listener: its certificate (HTTPS) and its URL rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// `""`: the CLB's default domain (its VIP).
    pub host: String,
    /// The certificate serving it; always `None` on HTTP, and `None` on HTTPS is E4040.
    pub certificate: Option<CertAssignment>,
    pub rules: Vec<UrlRule>,
}

/// A listener with what it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerRules {
    pub listener: Listener,
    pub domains: Vec<Domain>,
}

impl ListenerRules {
    /// The HTTPS domains no certificate serves (TKE's E4040).
    pub fn uncovered(&self) -> impl Iterator<Item = &Domain> {
        let https = self.listener.protocol == Protocol::Https;
        self.domains
            .iter()
            .filter(move |d| https && d.certificate.is_none())
    }
}

/// A listener, host and path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Point {
    pub listener: Listener,
    pub host: String,
    pub path: String,
}

/// What declares a redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectOrigin {
    /// `auto-rewrite`: every HTTPS:443 rule gets an HTTP:80 redirect.
    AutoRewrite,
    /// A `rewrite` entry of http-rules / https-rules.
    Entry { key: &'static str, index: usize },
}

impl RedirectOrigin {
    pub fn field(&self) -> String {
        match self {
            Self::AutoRewrite => format!("metadata.annotations[{}]", keys::AUTO_REWRITE),
            Self::Entry { key, index } => format!("metadata.annotations[{key}][{index}]"),
        }
    }
}

/// A redirect rule TKE puts on the CLB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub from: Point,
    pub to: Point,
    /// The HTTP status code; `None` when TKE sets none (the CLB's default).
    pub code: Option<u16>,
    pub origin: RedirectOrigin,
}

/// Something written in the Ingress that TKE will not act on, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub field: String,
    pub why: String,
}

/// What TKE builds from one Ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clb {
    pub load_balancer: LoadBalancer,
    /// Listeners with rules or redirects, and every one `listen-ports` names, in declared order.
    pub listeners: Vec<ListenerRules>,
    pub redirects: Vec<Redirect>,
    pub ignored: Vec<Ignored>,
    /// `direct-access: "true"`: the CLB binds Pod IPs, not NodePorts.
    pub direct_access: bool,
    /// `lb-rs-weight`, when set.
    pub weights: Option<Weights>,
}

/// `lb-rs-weight`: a default weight for every backend, and per-port groups of StatefulSet Pods
/// with their own weights.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Weights {
    pub default: Option<u64>,
    pub groups: Vec<WeightGroup>,
}

/// One `groups` entry: the Service port it is keyed on, and `StatefulSet name: pods → weight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightGroup {
    pub port: Option<i64>,
    pub pods: Vec<String>,
}

impl Weights {
    fn of(value: &Value) -> Self {
        let groups = value.get("groups").and_then(Value::as_array);
        Self {
            default: value.get("defaultWeight").and_then(Value::as_u64),
            groups: groups.into_iter().flatten().map(weight_group).collect(),
        }
    }

    /// The groups keyed on a Service port.
    pub fn for_port(&self, port: i64) -> impl Iterator<Item = &WeightGroup> {
        self.groups.iter().filter(move |g| g.port == Some(port))
    }
}

fn weight_group(group: &Value) -> WeightGroup {
    let mut pods = Vec::new();
    let sets = group.get("statefulSets").and_then(Value::as_array);
    for set in sets.into_iter().flatten() {
        let name = set.get("name").and_then(Value::as_str).unwrap_or("?");
        let weights = set.get("weights").and_then(Value::as_array);
        for weight in weights.into_iter().flatten() {
            let indexes: Vec<String> = (weight.get("podIndexes").and_then(Value::as_array))
                .into_iter()
                .flatten()
                .map(ToString::to_string)
                .collect();
            let value = weight.get("weight").map_or("?".into(), ToString::to_string);
            pods.push(format!("{name}[{}] weight {value}", indexes.join(",")));
        }
    }
    WeightGroup {
        port: group.pointer("/key/port").and_then(Value::as_i64),
        pods,
    }
}

/// The parsed JSON annotations the model reads, by key: the rules pass those that passed their
/// schema, so the model and the checks read the same values.
pub type JsonAnnotations<'a> = dyn Fn(&str) -> Option<Value> + 'a;

impl Clb {
    /// The model from the annotations as written (JSON that does not parse counts as absent).
    pub fn of(ingress: &Ingress<'_>) -> Self {
        let annotations = ingress.metadata.annotations.clone().unwrap_or_default();
        let json = |key: &str| {
            let text = annotations.get(key)?;
            serde_json::from_str::<Value>(text.trim()).ok()
        };
        Self::build(ingress, &Layout::of(ingress), &json)
    }

    /// The model from a layout (whose rules entries may have been filtered) and the parsed JSON
    /// annotations.
    pub fn build(ingress: &Ingress<'_>, layout: &Layout, json: &JsonAnnotations<'_>) -> Self {
        static NONE: Annotations<'static> = Annotations::new();
        let annotations = ingress.metadata.annotations.as_ref().unwrap_or(&NONE);
        let certificates = Certificates::of(ingress, json(keys::CERTIFICATE).as_ref());
        let mut clb = Self {
            load_balancer: LoadBalancer::of(annotations, json(keys::EXTENSIVE_PARAMETERS).as_ref()),
            listeners: place(ingress, layout, &certificates),
            redirects: Vec::new(),
            ignored: Vec::new(),
            direct_access: annotations
                .get(keys::DIRECT_ACCESS)
                .is_some_and(|v| v == "true"),
            weights: json(keys::LB_RS_WEIGHT).as_ref().map(Weights::of),
        };
        let redirects = Redirects {
            ingress,
            annotations,
            layout,
            json,
        };
        redirects.add_to(&mut clb);
        let more = ignored(ingress, annotations, layout, &certificates, &clb);
        clb.ignored.extend(more);
        let declared = annotations.contains_key(keys::LISTEN_PORTS);
        let redirect_sources: Vec<Listener> =
            clb.redirects.iter().map(|r| r.from.listener).collect();
        clb.listeners.retain(|l| {
            declared || !l.domains.is_empty() || redirect_sources.contains(&l.listener)
        });
        clb
    }

    /// Every domain on every listener, with its listener.
    pub fn domains(&self) -> impl Iterator<Item = (Listener, &Domain)> {
        self.listeners
            .iter()
            .flat_map(|l| l.domains.iter().map(move |d| (l.listener, d)))
    }
}

/// Every declared listener, each with the spec paths placed on it, grouped by host in spec
/// order; HTTPS domains with their certificate.
fn place(
    ingress: &Ingress<'_>,
    layout: &Layout,
    certificates: &Certificates,
) -> Vec<ListenerRules> {
    let mut listeners: Vec<ListenerRules> = layout
        .listeners
        .iter()
        .map(|&listener| ListenerRules {
            listener,
            domains: Vec::new(),
        })
        .collect();
    for path in spec_paths(ingress) {
        let placement = layout.placement(&path);
        for listener in layout.listeners_of(&path) {
            let Some(target) = listeners.iter_mut().find(|l| l.listener == listener) else {
                continue;
            };
            let rule = url_rule(&path, placement.https_by_default);
            domain(target, path.host, certificates).rules.push(rule);
        }
    }
    listeners
}

fn url_rule(path: &SpecPath<'_>, https_by_default: bool) -> UrlRule {
    UrlRule {
        path: path.url.to_owned(),
        backend: path.backend().map(|(s, p)| (s.to_owned(), p)),
        rule_index: path.rule_index,
        path_index: path.path_index,
        https_by_default,
    }
}

/// The domain `host` of a listener, added (with its certificate on HTTPS) when new.
fn domain<'a>(target: &'a mut ListenerRules, host: &str, certs: &Certificates) -> &'a mut Domain {
    if let Some(at) = target.domains.iter().position(|d| d.host == host) {
        return &mut target.domains[at];
    }
    let certificate = match target.listener.protocol {
        Protocol::Https => certs.assign(host),
        Protocol::Http => None,
    };
    target.domains.push(Domain {
        host: host.to_owned(),
        certificate,
        rules: Vec::new(),
    });
    let last = target.domains.len() - 1;
    &mut target.domains[last]
}

/// What the redirect annotations make: auto-rewrite and `rewrite` entries
/// (docs/tke-behaviour.md §3.3).
struct Redirects<'a> {
    ingress: &'a Ingress<'a>,
    annotations: &'a Annotations<'a>,
    layout: &'a Layout,
    json: &'a JsonAnnotations<'a>,
}

impl Redirects<'_> {
    fn is_true(&self, key: &str) -> bool {
        self.annotations.get(key).is_some_and(|v| v == "true")
    }

    fn add_to(&self, clb: &mut Clb) {
        if self.is_true(keys::AUTO_REWRITE) {
            self.auto_rewrite(clb);
        }
        if crate::ingress::rule_mix_key(Some(self.annotations)).is_none() {
            return;
        }
        let allowed = self.is_true(keys::REWRITE_SUPPORT) || self.is_true(keys::ENABLE_GROUP);
        for (key, entries, protocol) in [
            (keys::HTTP_RULES, &self.layout.http_entries, Protocol::Http),
            (
                keys::HTTPS_RULES,
                &self.layout.https_entries,
                Protocol::Https,
            ),
        ] {
            for (index, entry) in entries.iter().enumerate() {
                let origin = RedirectOrigin::Entry { key, index };
                match (&entry.rewrite, allowed) {
                    (None, _) => {}
                    (Some(_), false) => clb.ignored.push(Ignored {
                        field: format!("{}.rewrite", origin.field()),
                        why: "a redirect needs rewrite-support: \"true\"".into(),
                    }),
                    (Some(_), true) => self.entry(entry, protocol, origin, clb),
                }
            }
        }
    }

    /// A `rewrite` entry: from each listener of its annotation's protocol to the listener on
    /// `rewrite.port`.
    fn entry(&self, entry: &Entry, protocol: Protocol, origin: RedirectOrigin, clb: &mut Clb) {
        let rewrite = entry.rewrite.clone().unwrap_or_default();
        let listeners = &self.layout.listeners;
        let target = listeners
            .iter()
            .find(|l| Some(l.port) == rewrite.port)
            .copied();
        let Some(target) = target else {
            let port = rewrite.port.map_or("(none)".into(), |p| p.to_string());
            clb.ignored.push(Ignored {
                field: format!("{}.rewrite.port", origin.field()),
                why: format!("port {port} is not a listener of this CLB"),
            });
            return;
        };
        for from in listeners.iter().filter(|l| l.protocol == protocol) {
            clb.redirects.push(Redirect {
                from: Point {
                    listener: *from,
                    host: entry.host.clone(),
                    path: entry.path.clone(),
                },
                to: Point {
                    listener: target,
                    host: rewrite.host.clone().unwrap_or_else(|| entry.host.clone()),
                    path: rewrite.path.clone().unwrap_or_else(|| entry.path.clone()),
                },
                code: None,
                origin,
            });
        }
    }

    /// auto-rewrite: each host+path on HTTPS:443 gets a redirect from HTTP:80, when both
    /// listeners exist and there are certificates.
    fn auto_rewrite(&self, clb: &mut Clb) {
        let field = RedirectOrigin::AutoRewrite.field();
        let both = [Listener::HTTP_80, Listener::HTTPS_443];
        let why = if !self.layout.certificates {
            "without TLS no rule is on HTTPS"
        } else if !both.iter().all(|l| self.layout.listeners.contains(l)) {
            "needs an HTTP:80 and an HTTPS:443 listener"
        } else {
            ""
        };
        if !why.is_empty() {
            clb.ignored.push(Ignored {
                field,
                why: why.into(),
            });
            return;
        }
        let codes = (self.json)(keys::AUTO_REWRITE_CODE);
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for path in spec_paths(self.ingress) {
            let on_https = self
                .layout
                .listeners_of(&path)
                .any(|l| l == Listener::HTTPS_443);
            if !on_https || seen.contains(&(path.host, path.url)) {
                continue;
            }
            seen.push((path.host, path.url));
            let point = |listener| Point {
                listener,
                host: path.host.to_owned(),
                path: path.url.to_owned(),
            };
            clb.redirects.push(Redirect {
                from: point(Listener::HTTP_80),
                to: point(Listener::HTTPS_443),
                code: Some(rewrite_code(codes.as_ref(), path.host)),
                origin: RedirectOrigin::AutoRewrite,
            });
        }
    }
}

/// The auto-rewrite code of a host: its `rewriteCodeInfos` entry, else `defaultRewriteCode`,
/// else 302.
fn rewrite_code(codes: Option<&Value>, host: &str) -> u16 {
    let code = |v: Option<&Value>| {
        v.and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
    };
    let infos = codes
        .and_then(|c| c.get("rewriteCodeInfos"))
        .and_then(Value::as_array);
    let per_host = infos
        .into_iter()
        .flatten()
        .find(|i| i.get("host").and_then(Value::as_str) == Some(host))
        .and_then(|i| code(i.get("rewriteCode")));
    per_host
        .or_else(|| code(codes.and_then(|c| c.get("defaultRewriteCode"))))
        .unwrap_or(302)
}

/// Annotations and entries TKE does not act on (docs/tke-behaviour.md §3.2, §3.3).
fn ignored(
    ingress: &Ingress<'_>,
    annotations: &Annotations<'_>,
    layout: &Layout,
    certificates: &Certificates,
    clb: &Clb,
) -> Vec<Ignored> {
    let field = |key: &str| format!("metadata.annotations[{key}]");
    let mut out = Vec::new();
    let mut add = |field: String, why: &str| {
        out.push(Ignored {
            field,
            why: why.to_owned(),
        });
    };
    let listed = |key: &str| {
        annotations
            .get(key)
            .is_some_and(|v| !matches!(v.trim(), "" | "null" | "[]"))
    };
    for key in [keys::HTTP_RULES, keys::HTTPS_RULES] {
        if !listed(key) {
            continue;
        }
        if !layout.rule_mix {
            add(field(key), "rule-mix is not \"true\"");
        } else if !layout.certificates {
            let entries = match key {
                keys::HTTP_RULES => &layout.http_entries,
                _ => &layout.https_entries,
            };
            let why = if entries.iter().any(|e| e.is_redirect) {
                "no TLS: every rule is HTTP (its redirect entries still apply)"
            } else {
                "no TLS: every rule is HTTP"
            };
            add(field(key), why);
        }
    }
    if layout.rule_mix && layout.certificates {
        unmatched_entries(ingress, layout, &mut add);
    }
    if annotations.contains_key(keys::AUTO_REWRITE_CODE)
        && annotations
            .get(keys::AUTO_REWRITE)
            .is_none_or(|v| v != "true")
    {
        add(
            field(keys::AUTO_REWRITE_CODE),
            "auto-rewrite is not \"true\"",
        );
    }
    if annotations.contains_key(keys::EXIST_LB_ID) {
        for key in CREATION_KEYS.iter().filter(|k| annotations.contains_key(k)) {
            add(field(key), "existLbId: the CLB exists, TKE creates none");
        }
    }
    let spec = ingress.spec.as_ref();
    if spec.and_then(|s| s.default_backend.as_ref()).is_some() {
        add("spec.defaultBackend".into(), "TKE makes no CLB rule of it");
    }
    unused_certificates(clb, certificates, &mut add);
    out
}

/// Keys TKE reads only when it creates the CLB, so with `existLbId` they do nothing.
pub const CREATION_KEYS: [&str; 5] = [
    keys::SUBNET_ID,
    keys::CHARGE_TYPE,
    keys::BANDWIDTH,
    keys::EXTENSIVE_PARAMETERS,
    keys::CROSS_VPC_ID,
];

/// Under rule-mix, non-redirect entries that match no spec path (TKE places spec paths; an
/// entry classifies one, it makes no rule of its own).
fn unmatched_entries(ingress: &Ingress<'_>, layout: &Layout, add: &mut impl FnMut(String, &str)) {
    for (key, entries) in [
        (keys::HTTP_RULES, &layout.http_entries),
        (keys::HTTPS_RULES, &layout.https_entries),
    ] {
        for (index, entry) in entries.iter().enumerate() {
            if !entry.is_redirect && !spec_paths(ingress).any(|p| entry.matches(&p)) {
                add(
                    format!("metadata.annotations[{key}][{index}]"),
                    "matches no spec path (host, path, service and port)",
                );
            }
        }
    }
}

/// Certificates no HTTPS domain uses (e.g. rule-mix with every rule in http-rules).
fn unused_certificates(clb: &Clb, certificates: &Certificates, add: &mut impl FnMut(String, &str)) {
    let used: Vec<&CertSource> = clb
        .domains()
        .filter_map(|(_, d)| d.certificate.as_ref().map(|c| &c.source))
        .collect();
    for source in certificates.sources().filter(|s| !used.contains(s)) {
        add(source.field(), "no HTTPS domain uses this certificate");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress(annotations: &Value, tls: &Value) -> Ingress<'static> {
        Ingress::from_value(json!({
            "metadata": {"name": "x", "annotations": annotations},
            "spec": {"tls": tls, "rules": [
                {"host": "www.example.com", "http": {"paths": [
                    {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                    {"path": "/api", "backend": {"service": {"name": "api", "port": {"name": "http"}}}}]}},
                {"host": "shop.example.com", "http": {"paths": [
                    {"path": "/", "backend": {"service": {"name": "shop", "port": {"number": 80}}}}]}}
            ]}
        }))
        .unwrap()
    }

    /// `listener host path` of every rule.
    fn rules(clb: &Clb) -> Vec<String> {
        let mut out = Vec::new();
        for (listener, domain) in clb.domains() {
            for rule in &domain.rules {
                out.push(format!("{listener} {}{}", domain.host, rule.path));
            }
        }
        out
    }

    #[test]
    fn without_tls_every_rule_is_on_http_80_grouped_by_host() {
        let clb = Clb::of(&ingress(&json!({}), &json!([])));
        assert_eq!(
            rules(&clb),
            [
                "HTTP:80 www.example.com/",
                "HTTP:80 www.example.com/api",
                "HTTP:80 shop.example.com/"
            ]
        );
        assert_eq!(clb.listeners.len(), 1, "an empty HTTPS:443 is not shown");
        assert_eq!(clb.listeners[0].domains[0].certificate, None);
        let api = &clb.listeners[0].domains[0].rules[1];
        assert_eq!(api.backend, Some(("api".into(), "http".into())));
        assert_eq!(api.field(), "spec.rules[0].http.paths[1]");
    }

    #[test]
    fn both_rule_mix_spellings_put_http_rules_entries_on_http() {
        let tls = json!([{"hosts": ["shop.example.com"], "secretName": "shop"}]);
        let entry = r#"[{"host":"shop.example.com","path":"/","backend":{"serviceName":"shop","servicePort":"80"}}]"#;
        for key in [keys::RULE_MIX, keys::RULE_MIX_ALT] {
            let annotations = json!({key: "true", keys::HTTP_RULES: entry});
            let clb = Clb::of(&ingress(&annotations, &tls));
            assert!(
                rules(&clb).contains(&"HTTP:80 shop.example.com/".to_owned()),
                "{key}: {:?}",
                rules(&clb)
            );
            assert!(!rules(&clb).contains(&"HTTPS:443 shop.example.com/".to_owned()));
        }
    }

    #[test]
    fn exact_host_beats_wildcard_and_default_serves_the_rest() {
        let tls = json!([
            {"secretName": "fallback"},
            {"hosts": ["*.example.com"], "secretName": "wild"},
            {"hosts": ["www.example.com"], "secretName": "www"}]);
        let clb = Clb::of(&ingress(&json!({}), &tls));
        let secret = |host: &str| {
            let (_, domain) = clb.domains().find(|(_, d)| d.host == host).unwrap();
            let cert = domain.certificate.clone().unwrap();
            let CertSource::Tls { secret, .. } = cert.source else {
                panic!("from spec.tls")
            };
            (cert.kind, secret)
        };
        assert_eq!(secret("www.example.com"), (CertKind::Sni, "www".into()));
        assert_eq!(secret("shop.example.com"), (CertKind::Sni, "wild".into()));
        let certs = Certificates::of(&ingress(&json!({}), &tls), None);
        assert_eq!(
            certs.assign("a.b.example.com").unwrap().kind,
            CertKind::Default
        );
        assert_eq!(certs.assign("").unwrap().kind, CertKind::Default);
    }

    #[test]
    fn an_https_host_without_a_certificate_is_uncovered() {
        let tls = json!([{"hosts": ["www.example.com"], "secretName": "www"}]);
        let clb = Clb::of(&ingress(&json!({}), &tls));
        let uncovered: Vec<&str> = clb.listeners[0]
            .uncovered()
            .map(|d| d.host.as_str())
            .collect();
        assert_eq!(uncovered, ["shop.example.com"]);
        assert_eq!(
            Certificates::of(&ingress(&json!({}), &tls), None).assign(""),
            None
        );
    }

    #[test]
    fn the_certificate_annotation_serves_without_spec_tls() {
        let annotation = json!([{"hosts": ["shop.example.com"], "qcloud_cert_id": ["Abcd1234"]},
                                {"qcloud_cert_id": "Efgh5678"}]);
        let certs = Certificates::of(&ingress(&json!({}), &json!([])), Some(&annotation));
        let shop = certs.assign("shop.example.com").unwrap();
        assert_eq!(
            shop.source,
            CertSource::Annotation {
                index: 0,
                cert_ids: vec!["Abcd1234".into()]
            }
        );
        assert_eq!(
            certs.assign("www.example.com").unwrap().kind,
            CertKind::Default
        );
    }

    #[test]
    fn auto_rewrite_redirects_each_https_rule_with_its_code() {
        let annotations = json!({
            "ingress.cloud.tencent.com/auto-rewrite": "true",
            "ingress.cloud.tencent.com/auto-rewrite-code":
                r#"{"defaultRewriteCode": 301, "rewriteCodeInfos": [{"host": "shop.example.com", "rewriteCode": 307}]}"#});
        let clb = Clb::of(&ingress(&annotations, &json!([{"secretName": "all"}])));
        let redirects: Vec<String> = clb
            .redirects
            .iter()
            .map(|r| {
                format!(
                    "{} {}{} {:?}",
                    r.from.listener, r.from.host, r.from.path, r.code
                )
            })
            .collect();
        assert_eq!(
            redirects,
            [
                "HTTP:80 www.example.com/ Some(301)",
                "HTTP:80 www.example.com/api Some(301)",
                "HTTP:80 shop.example.com/ Some(307)"
            ]
        );
        let listeners: Vec<String> = clb
            .listeners
            .iter()
            .map(|l| l.listener.to_string())
            .collect();
        assert_eq!(
            listeners,
            ["HTTP:80", "HTTPS:443"],
            "HTTP:80 carries the redirects"
        );
    }

    #[test]
    fn rewrite_entries_redirect_under_rule_mix_and_rewrite_support() {
        let annotations = json!({
            "kubernetes.io/ingress.rule-mix": "true",
            "ingress.cloud.tencent.com/rewrite-support": "true",
            "kubernetes.io/ingress.http-rules": r#"[{"path": "/old", "rewrite": {"port": 443, "path": "/new"}}]"#});
        let clb = Clb::of(&ingress(&annotations, &json!([])));
        assert_eq!(clb.redirects.len(), 1);
        let redirect = &clb.redirects[0];
        assert_eq!(
            (redirect.from.listener, redirect.to.listener),
            (Listener::HTTP_80, Listener::HTTPS_443)
        );
        assert_eq!(
            (redirect.from.path.as_str(), redirect.to.path.as_str()),
            ("/old", "/new")
        );
        assert_eq!(redirect.code, None);
        assert_eq!(
            clb.ignored[0].why,
            "no TLS: every rule is HTTP (its redirect entries still apply)"
        );
        let without_support = json!({
            "kubernetes.io/ingress.rule-mix": "true",
            "kubernetes.io/ingress.http-rules": r#"[{"path": "/old", "rewrite": {"port": 443}}]"#});
        let clb = Clb::of(&ingress(&without_support, &json!([])));
        assert!(clb.redirects.is_empty());
        assert_eq!(
            clb.ignored[0].field,
            "metadata.annotations[kubernetes.io/ingress.http-rules][0].rewrite"
        );
    }

    #[test]
    fn ignored_annotations_entries_and_creation_keys() {
        let annotations = json!({
            "kubernetes.io/ingress.http-rules": r#"[{"host": "www.example.com", "path": "/", "backend": {"serviceName": "web", "servicePort": "80"}}]"#,
            "kubernetes.io/ingress.existLbId": "lb-abcd1234",
            "kubernetes.io/ingress.subnetId": "subnet-abcd1234"});
        let clb = Clb::of(&ingress(&annotations, &json!([])));
        let ignored: Vec<&str> = clb.ignored.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            ignored,
            [
                "metadata.annotations[kubernetes.io/ingress.http-rules]",
                "metadata.annotations[kubernetes.io/ingress.subnetId]"
            ]
        );
        let mut mixed = annotations.clone();
        mixed["kubernetes.io/ingress.rule-mix"] = json!("true");
        mixed["kubernetes.io/ingress.http-rules"] = json!(
            r#"[{"host": "www.example.com", "path": "/nope", "backend": {"serviceName": "web", "servicePort": "80"}}]"#
        );
        let clb = Clb::of(&ingress(&mixed, &json!([{"secretName": "all"}])));
        assert_eq!(
            clb.ignored[0].field,
            "metadata.annotations[kubernetes.io/ingress.http-rules][0]"
        );
        assert_eq!(
            clb.load_balancer.exist_lb_id.as_deref(),
            Some("lb-abcd1234")
        );
    }

    #[test]
    fn the_rules_of_the_model_are_the_routes_of_the_summaries() {
        for (annotations, tls) in [
            (json!({}), json!([])),
            (json!({}), json!([{"secretName": "all"}])),
            (
                json!({"kubernetes.io/ingress.rule-mix": "true",
                    "kubernetes.io/ingress.http-rules": r#"[{"host": "www.example.com", "path": "/", "backend": {"serviceName": "web", "servicePort": "80"}}]"#}),
                json!([{"secretName": "all"}]),
            ),
            (
                json!({"kubernetes.io/ingress.rule-mix-both": "true"}),
                json!([{"secretName": "all"}]),
            ),
        ] {
            let object = ingress(&annotations, &tls);
            let mut routes: Vec<String> = super::super::listeners::routes(&object)
                .iter()
                .map(|r| format!("{} {}{}", r.listener, r.host, r.path))
                .collect();
            let mut model = rules(&Clb::of(&object));
            routes.sort();
            model.sort();
            assert_eq!(model, routes);
        }
    }

    #[test]
    fn weights_by_port() {
        let weights = Weights::of(&json!({"defaultWeight": 10, "groups": [
            {"key": {"proto": "TCP", "port": 80}, "statefulSets": [
                {"name": "web", "weights": [{"weight": 0, "podIndexes": [0, 1]}]}]}]}));
        assert_eq!(weights.default, Some(10));
        let groups: Vec<&WeightGroup> = weights.for_port(80).collect();
        assert_eq!(groups[0].pods, ["web[0,1] weight 0"]);
        assert_eq!(weights.for_port(8080).count(), 0);
    }

    #[test]
    fn wildcards_cover_one_level() {
        assert!(host_matches("*.abc.com", "www.abc.com"));
        assert!(!host_matches("*.abc.com", "a.b.abc.com"));
        assert!(!host_matches("*.abc.com", "abc.com"));
        assert!(host_matches("www.abc.com", "www.abc.com"));
    }
}
