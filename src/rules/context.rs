//! The Ingress under review, read once into the shape the checks need: annotations, spec rules,
//! the parsed http/https-rules entries, and the listeners each spec path lands on (from the one
//! model of what TKE builds, [`crate::ingress::listeners`]).

use std::cell::OnceCell;
use std::ops::Deref;

use crate::ingress::view::{Annotations, Ingress, IngressBackend, IngressRule, IngressTLS, Str};
use serde_json::Value;

use super::Operation;
use super::annotations as keys;
use crate::cluster::{CloudFacts, ClusterLookup, ServiceSummary};
use crate::ingress::clb::Clb;
use crate::ingress::listeners::{self, Layout, Placement, SpecPath};

static NO_ANNOTATIONS: Annotations<'static> = Annotations::new();
/// No cloud facts: cloud checks off.
pub(crate) static NO_CLOUD: std::sync::LazyLock<CloudFacts> =
    std::sync::LazyLock::new(CloudFacts::default);

/// One schema-valid entry of `kubernetes.io/ingress.http-rules` or `https-rules`, with where it
/// is written and the keys TKE does not read. What TKE reads of it is the layout's (read once
/// per review, not copied for the rules).
#[derive(Debug, Clone, Copy)]
pub struct Entry<'c> {
    /// The annotation it came from.
    pub key: &'static str,
    pub index: usize,
    /// What TKE reads of it.
    pub read: &'c listeners::Entry,
    /// Keys TKE does not read, as `host`-level names or `backend.x`.
    pub unknown_keys: &'c [String],
}

impl Entry<'_> {
    pub fn field(&self) -> String {
        format!("metadata.annotations[{}][{}]", self.key, self.index)
    }
}

impl Deref for Entry<'_> {
    type Target = listeners::Entry;

    fn deref(&self) -> &listeners::Entry {
        self.read
    }
}

/// Everything a rule may look at: the Ingress under review, read once, and the cluster view.
pub struct Ctx<'a> {
    pub operation: Operation,
    /// The Ingress's namespace (from the request when the object has none).
    pub namespace: &'a str,
    pub name: &'a str,
    pub ingress: &'a Ingress<'a>,
    /// The object before an UPDATE.
    pub old: Option<&'a Ingress<'a>>,
    /// TKE's CLB controller handles this Ingress (class qcloud, or no class at all).
    pub in_scope: bool,
    pub annotations: &'a Annotations<'a>,
    pub rules: &'a [IngressRule<'a>],
    pub tls: &'a [IngressTLS<'a>],
    pub default_backend: Option<&'a IngressBackend<'a>>,
    /// For each entry of the layout's `http_entries` and `https_entries`, the keys TKE does not
    /// read (nearly always none: no allocation).
    http_unknown_keys: Vec<Vec<String>>,
    https_unknown_keys: Vec<Vec<String>>,
    /// Listeners and placement, as TKE will build them, with the schema-valid rules-annotation
    /// entries.
    pub layout: Layout,
    /// Parsed JSON annotations that passed their schema, by key.
    pub json: Vec<(&'static str, Value)>,
    pub cluster: &'a dyn ClusterLookup,
    /// Tencent Cloud's answers for the ids this Ingress names; empty unless cloud checks are on.
    pub cloud: &'a CloudFacts,
    /// The operator says the cluster binds Pods even without the direct-access annotation.
    pub direct_access_by_default: bool,
    /// The backend Services, looked up once per review by the first rule that reads them
    /// (`checks::backends`).
    pub services: OnceCell<Services>,
    /// What TKE builds, made on the first rule that asks (most Ingresses need it for no rule).
    clb: OnceCell<Clb>,
    /// Every spec path, listed once: eight rules walk them (a 500-rule Ingress, 500 each).
    spec_paths: OnceCell<Vec<SpecPath<'a>>>,
}

/// The Services the backend references name, each looked up once.
pub struct Services {
    /// `None` when the view has no such Service.
    pub found: Vec<Option<ServiceSummary>>,
    /// For each reference, in `checks::backends::references` order, its index in `found`.
    pub by_reference: Vec<usize>,
}

/// What a [`Ctx`] is built from, besides the parsed JSON annotations.
#[derive(Clone, Copy)]
pub struct Subject<'a> {
    pub operation: Operation,
    pub namespace: &'a str,
    pub ingress: &'a Ingress<'a>,
    pub old: Option<&'a Ingress<'a>>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        subject: Subject<'a>,
        json: Vec<(&'static str, Value)>,
        cluster: &'a dyn ClusterLookup,
    ) -> Self {
        let ingress = subject.ingress;
        let spec = ingress.spec.as_ref();
        let entries = |key: &'static str| -> (Vec<listeners::Entry>, Vec<Vec<String>>) {
            json.iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.as_array())
                .map(|items| items.iter().map(entry).unzip())
                .unwrap_or_default()
        };
        let (read_for_plain, unknown_in_plain) = entries(keys::HTTP_RULES);
        let (read_for_tls, unknown_in_tls) = entries(keys::HTTPS_RULES);
        // The model reads the entries that passed their schema, as the rules do.
        let layout = Layout::with_entries(ingress, read_for_plain, read_for_tls);
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
            http_unknown_keys: unknown_in_plain,
            https_unknown_keys: unknown_in_tls,
            layout,
            json,
            cluster,
            cloud: &NO_CLOUD,
            direct_access_by_default: false,
            services: OnceCell::new(),
            clb: OnceCell::new(),
            spec_paths: OnceCell::new(),
        }
    }

    /// The CLB binds Pod IPs: the annotation says so, or the cluster does it by default.
    pub fn direct_access(&self) -> bool {
        self.is_true(keys::DIRECT_ACCESS) || self.direct_access_by_default
    }

    /// An annotation of the object before an UPDATE.
    pub fn old_annotation(&self, key: &str) -> Option<&'a str> {
        self.old
            .and_then(|o| o.metadata.annotations.as_ref())
            .and_then(|a| a.get(key))
            .map(Str::as_str)
    }

    pub fn annotation(&self, key: &str) -> Option<&'a str> {
        self.annotations.get(key).map(Str::as_str)
    }

    /// The schema-valid entries of `http-rules`, in order.
    pub fn http_entries(&self) -> impl Iterator<Item = Entry<'_>> + Clone {
        entries(
            keys::HTTP_RULES,
            &self.layout.http_entries,
            &self.http_unknown_keys,
        )
    }

    /// The schema-valid entries of `https-rules`, in order.
    pub fn https_entries(&self) -> impl Iterator<Item = Entry<'_>> + Clone {
        entries(
            keys::HTTPS_RULES,
            &self.layout.https_entries,
            &self.https_unknown_keys,
        )
    }

    /// Both annotations' entries, `http-rules` first.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> + Clone {
        self.http_entries().chain(self.https_entries())
    }

    /// The rule-mix key that is `"true"` (either spelling), if any.
    pub fn rule_mix_key(&self) -> Option<&'static str> {
        crate::ingress::rule_mix_key(Some(self.annotations))
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
        self.layout.certificates
    }

    /// Every spec path, with its defaults filled in.
    pub fn spec_paths(&self) -> impl Iterator<Item = SpecPath<'a>> + '_ {
        self.spec_paths
            .get_or_init(|| listeners::spec_paths(self.ingress).collect())
            .iter()
            .copied()
    }

    /// Which protocols a spec path is on (docs/tke-behaviour.md §3.2).
    pub fn placement(&self, path: &SpecPath<'_>) -> Placement {
        self.layout.placement(path)
    }

    /// What TKE builds (the model `plan` prints), from the layout and the schema-valid JSON
    /// annotations the rules read.
    pub fn clb(&self) -> &Clb {
        self.clb
            .get_or_init(|| Clb::build(self.ingress, &self.layout, &|key| self.json(key).cloned()))
    }
}

fn entries<'c>(
    key: &'static str,
    read: &'c [listeners::Entry],
    unknown_keys: &'c [Vec<String>],
) -> impl Iterator<Item = Entry<'c>> + Clone {
    read.iter()
        .zip(unknown_keys)
        .enumerate()
        .map(move |(index, (read, unknown_keys))| Entry {
            key,
            index,
            read,
            unknown_keys,
        })
}

/// Reads one schema-valid entry: what TKE reads of it, and the keys it does not.
fn entry(item: &Value) -> (listeners::Entry, Vec<String>) {
    // pathType: regex, exact and prefix rules (docs/tke-behaviour.md §3.4).
    const KNOWN: [&str; 5] = ["host", "path", "backend", "rewrite", "pathType"];
    let mut unknown_keys: Vec<String> = item
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .filter(|k| !KNOWN.contains(&k.as_str()))
        .cloned()
        .collect();
    if let Some(backend) = item.get("backend").and_then(Value::as_object) {
        unknown_keys.extend(
            backend
                .keys()
                .filter(|k| *k != "serviceName" && *k != "servicePort")
                .map(|k| format!("backend.{k}")),
        );
    }
    (listeners::Entry::from_value(item), unknown_keys)
}
