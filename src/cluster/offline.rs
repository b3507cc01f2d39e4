//! The offline cluster view: Services, Secrets and Ingresses read from YAML or JSON files.
//!
//! Files may hold several YAML documents and `kind: List` objects; directories are read
//! recursively (`*.yaml`, `*.yml`, `*.json`, in name order). Objects of other kinds are skipped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Secret, Service};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{
    ClusterLookup, ClusterState, ClusterView, IngressSummary, LookupFuture, LookupRequest, Route,
    SecretCertIds, ServicePortSummary, ServiceSummary,
};
use crate::ingress::{self, keys};

/// Key of the certificate id in a TKE TLS Secret.
pub const CERT_ID_KEY: &str = "qcloud_cert_id";
/// Key of the client CA certificate id (mutual TLS).
pub const CA_CERT_ID_KEY: &str = "qcloud_ca_cert_id";

/// Why cluster-state files could not be read. Names the file and the document.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: document {document}: {message}")]
    Parse {
        path: PathBuf,
        document: usize,
        message: String,
    },
}

/// A cluster view that never changes: the state read from files at start-up.
#[derive(Debug, Clone, Default)]
pub struct OfflineCluster {
    state: Arc<ClusterState>,
}

impl OfflineCluster {
    pub fn new(state: ClusterState) -> Self {
        Self {
            state: Arc::new(state),
        }
    }

    /// Reads every file and directory in `paths` into one state.
    ///
    /// Each object is summarised as soon as it is parsed ([`load_text`]), so memory stays near
    /// the size of the state itself, not of the files' value trees.
    pub fn from_paths(paths: &[PathBuf]) -> Result<Self, LoadError> {
        let mut state = ClusterState::default();
        for path in paths {
            for file in files_under(path)? {
                let text = std::fs::read_to_string(&file).map_err(|e| LoadError::Io {
                    path: file.clone(),
                    message: e.to_string(),
                })?;
                load_text(&mut state, &text, "default").map_err(|(document, message)| {
                    LoadError::Parse {
                        path: file.clone(),
                        document,
                        message,
                    }
                })?;
            }
        }
        Ok(Self::new(state))
    }

    pub fn state(&self) -> &ClusterState {
        &self.state
    }
}

impl ClusterView for OfflineCluster {
    fn is_ready(&self) -> bool {
        true
    }

    fn lookup(&self, _request: LookupRequest) -> LookupFuture {
        let state: Arc<dyn ClusterLookup> = self.state.clone();
        Box::pin(std::future::ready(state))
    }
}

/// The files a path stands for: itself, or the YAML/JSON files under it, sorted.
pub fn files_under(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let io = |e: std::io::Error| LoadError::Io {
        path: path.to_owned(),
        message: e.to_string(),
    };
    if !path.is_dir() {
        // Let the read report a missing file with its path.
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(path)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let p = entry.path();
        if p.is_dir() {
            files.extend(files_under(&p)?);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            files.push(p);
        }
    }
    Ok(files)
}

/// Parses a YAML or JSON text with one or more documents into objects, expanding `kind: List`.
/// Empty documents are skipped. On failure returns the 1-based document number and the reason.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, (usize, String)> {
    let documents: Vec<Value> = if text.trim_start().starts_with(['{', '[']) {
        vec![serde_json::from_str(text).map_err(|e| (1, ingress::one_line(&e.to_string())))?]
    } else {
        serde_saphyr::from_multiple(text).map_err(|e| (1, ingress::one_line(&e.to_string())))?
    };
    let mut objects = Vec::new();
    for document in documents {
        expand_lists(document, &mut objects);
    }
    Ok(objects)
}

fn expand_lists(document: Value, out: &mut Vec<Value>) {
    match document {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                expand_lists(item, out);
            }
        }
        Value::Object(mut obj)
            if obj
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(is_list_kind) =>
        {
            // Take the items out rather than cloning them: a List can be most of a large file.
            if let Some(Value::Array(items)) = obj.remove("items") {
                for item in items {
                    expand_lists(item, out);
                }
            }
        }
        other => out.push(other),
    }
}

/// `List`, or a typed list such as `ServiceList`.
fn is_list_kind(kind: &str) -> bool {
    kind.ends_with("List")
}

/// Adds one object to the state if it is a Service, Secret or Ingress; other kinds are ignored.
/// Objects without a namespace go to `default_namespace`, as kubectl does.
pub fn add_object(
    state: &mut ClusterState,
    object: Value,
    default_namespace: &str,
) -> Result<(), String> {
    insert_summary(state, summarise_object(object)?, default_namespace);
    Ok(())
}

/// Parses a YAML or JSON text (as [`parse_documents`] reads it) and adds its objects to the
/// state, as [`add_object`] does for each. Objects are summarised while the text is parsed, one
/// at a time, so no value tree of the whole text is ever built: a 7 MB state of 22,000 objects
/// stays a few MB above the summaries instead of hundreds. On failure returns the 1-based number
/// of the object (as [`parse_documents`] counts them) and the reason; nothing is added then.
pub fn load_text(
    state: &mut ClusterState,
    text: &str,
    default_namespace: &str,
) -> Result<(), (usize, String)> {
    let documents: Vec<Summaries> = if text.trim_start().starts_with(['{', '[']) {
        vec![serde_json::from_str(text).map_err(|e| (1, ingress::one_line(&e.to_string())))?]
    } else {
        serde_saphyr::from_multiple_with_options(text, state_file_options())
            .map_err(|e| (1, ingress::one_line(&e.to_string())))?
    };
    let summaries: Vec<Summary> = documents
        .into_iter()
        .flat_map(|d| d.0)
        .enumerate()
        .map(|(index, outcome)| outcome.map_err(|message| (index + 1, message)))
        .collect::<Result<_, _>>()?;
    for summary in summaries {
        insert_summary(state, summary, default_namespace);
    }
    Ok(())
}

/// serde-saphyr's default budget (250,000 nodes, 1,024 documents) guards against hostile input;
/// cluster-state files come from the operator and `kubectl get -A -o yaml` of a 10,000-object
/// cluster needs millions of nodes, so the limits are raised, keeping the depth and alias guards.
fn state_file_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 100_000_000;
    budget.max_nodes = 50_000_000;
    budget.max_documents = 1_000_000;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// What the state keeps of one object, before its namespace default is applied.
enum Summary {
    Service {
        namespace: Option<String>,
        name: String,
        service: ServiceSummary,
    },
    Secret {
        namespace: Option<String>,
        name: String,
        ids: SecretCertIds,
    },
    /// `summary.namespace` is filled in by [`insert_summary`].
    Ingress {
        namespace: Option<String>,
        summary: IngressSummary,
    },
    /// Another kind, or an Ingress of another class.
    Skipped,
}

/// Reduces one object to its [`Summary`]; errors as [`add_object`] reports them.
fn summarise_object(object: Value) -> Result<Summary, String> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let kind = text(object.get("kind"));
    let api_version = text(object.get("apiVersion"));
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    Ok(match (kind.as_str(), api_version.as_str()) {
        ("Service", "v1") => {
            let service: Service =
                serde_json::from_value(object).map_err(|e| format!("Service: {e}"))?;
            Summary::Service {
                namespace,
                service: summarise_service(&service),
                name: service.metadata.name.unwrap_or_default(),
            }
        }
        ("Secret", "v1") => {
            let secret: Secret =
                serde_json::from_value(object).map_err(|e| format!("Secret: {e}"))?;
            Summary::Secret {
                namespace,
                ids: cert_ids(&secret),
                name: secret.metadata.name.unwrap_or_default(),
            }
        }
        ("Ingress", _) if ingress::IngressVersion::from_api_version(&api_version).is_some() => {
            let decoded = ingress::decode(&api_version, object).map_err(|e| e.to_string())?;
            if ingress::is_qcloud(&decoded.ingress) {
                Summary::Ingress {
                    summary: summarise_ingress(&decoded.ingress, ""),
                    namespace,
                }
            } else {
                Summary::Skipped
            }
        }
        _ => Summary::Skipped,
    })
}

fn insert_summary(state: &mut ClusterState, summary: Summary, default_namespace: &str) {
    let or_default =
        |namespace: Option<String>| namespace.unwrap_or_else(|| default_namespace.to_owned());
    match summary {
        Summary::Service {
            namespace,
            name,
            service,
        } => state.insert_service(&or_default(namespace), &name, service),
        Summary::Secret {
            namespace,
            name,
            ids,
        } => state.insert_secret(&or_default(namespace), &name, ids),
        Summary::Ingress {
            namespace,
            mut summary,
        } => {
            summary.namespace = or_default(namespace);
            state.insert_ingress(summary);
        }
        Summary::Skipped => {}
    }
}

/// The summaries of one document, made while it is deserialized: a List's items (and a
/// top-level array's elements) are each parsed into a small value, summarised and dropped
/// before the next one is read.
struct Summaries(Vec<Result<Summary, String>>);

impl<'de> Deserialize<'de> for Summaries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Summaries;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Kubernetes object, a List of objects, or an array of them")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Summaries, E> {
        Ok(Summaries(Vec::new()))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Summaries, E> {
        Ok(Summaries(Vec::new()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Summaries, A::Error> {
        let mut out = Vec::new();
        while let Some(Summaries(items)) = seq.next_element()? {
            out.extend(items);
        }
        Ok(Summaries(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Summaries, A::Error> {
        // `items` may come before `kind` (kubectl writes keys in alphabetical order), so the
        // items are summarised as they come and kept only if the object turns out to be a List.
        let mut fields = serde_json::Map::new();
        let mut items = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                items = Some(map.next_value::<Items>()?);
            } else {
                fields.insert(key, map.next_value()?);
            }
        }
        let is_list = fields
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(is_list_kind);
        Ok(match (is_list, items) {
            (true, Some(Items::Summarised(items))) => Summaries(items),
            (true, _) => Summaries(Vec::new()),
            (false, items) => {
                if let Some(Items::Other(value)) = items {
                    fields.insert("items".to_owned(), value);
                }
                Summaries(vec![summarise_object(Value::Object(fields))])
            }
        })
    }
}

/// The value of an object's `items` key: summarised when it is an array (a List's items), kept
/// as a value otherwise.
enum Items {
    Summarised(Vec<Result<Summary, String>>),
    Other(Value),
}

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemsVisitor)
    }
}

struct ItemsVisitor;

macro_rules! items_as_value {
    ($($method:ident($ty:ty)),*) => {
        $(fn $method<E: serde::de::Error>(self, v: $ty) -> Result<Items, E> {
            Ok(Items::Other(Value::from(v)))
        })*
    };
}

impl<'de> Visitor<'de> for ItemsVisitor {
    type Value = Items;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of Kubernetes objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Items, A::Error> {
        DocumentVisitor
            .visit_seq(seq)
            .map(|Summaries(items)| Items::Summarised(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Items, A::Error> {
        Value::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Items::Other)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Items, E> {
        Ok(Items::Other(Value::Null))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Items, E> {
        Ok(Items::Other(Value::Null))
    }

    items_as_value!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64),
        visit_str(&str),
        visit_string(String)
    );
}

pub fn summarise_service(service: &Service) -> ServiceSummary {
    let spec = service.spec.as_ref();
    ServiceSummary {
        service_type: spec
            .and_then(|s| s.type_.clone())
            .unwrap_or_else(|| "ClusterIP".to_owned()),
        ports: spec
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten()
            .map(|p| ServicePortSummary {
                name: p.name.clone(),
                port: p.port,
            })
            .collect(),
    }
}

/// Only the two certificate-id keys are taken; `stringData` wins over `data` as the API server's
/// merge does.
pub fn cert_ids(secret: &Secret) -> SecretCertIds {
    let get = |key: &str| {
        secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|s| s.as_bytes().to_vec())
            .or_else(|| {
                secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|b| b.0.clone())
            })
    };
    SecretCertIds {
        cert_id: get(CERT_ID_KEY),
        ca_cert_id: get(CA_CERT_ID_KEY),
    }
}

pub fn summarise_ingress(
    ingress: &k8s_openapi::api::networking::v1::Ingress,
    namespace: &str,
) -> IngressSummary {
    let annotation = |key: &str| {
        ingress
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let routes = ingress
        .spec
        .as_ref()
        .and_then(|s| s.rules.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|rule| {
            let host = rule.host.clone().unwrap_or_default();
            rule.http.iter().flat_map(|h| &h.paths).map(move |p| Route {
                host: host.clone(),
                path: p
                    .path
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "/".to_owned()),
            })
        })
        .collect();
    IngressSummary {
        namespace: namespace.to_owned(),
        name: ingress.metadata.name.clone().unwrap_or_default(),
        exist_lb_id: annotation(keys::EXIST_LB_ID),
        lb_id: annotation(keys::LOADBALANCE_ID),
        enable_group: annotation(keys::ENABLE_GROUP).as_deref() == Some("true"),
        routes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::SecretLookup;

    const STATE: &str = r"
apiVersion: v1
kind: Service
metadata: {name: tke-app-1, namespace: demo}
spec:
  type: NodePort
  ports: [{name: http, port: 80}]
---
# an empty document and a comment are fine
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata: {name: ssl}
  data: {qcloud_cert_id: VEtQbXNXYjM=, tls.key: c2VjcmV0}
- apiVersion: v1
  kind: Secret
  metadata: {name: ssl-string, namespace: demo}
  stringData: {qcloud_cert_id: TKPmsWb3}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: ignored}
- apiVersion: networking.k8s.io/v1
  kind: Ingress
  metadata:
    name: shared
    namespace: demo
    annotations: {kubernetes.io/ingress.existLbId: lb-abc, ingress.cloud.tencent.com/enable-group: 'true'}
  spec:
    rules: [{host: a.example.com, http: {paths: [{backend: {service: {name: tke-app-1, port: {number: 80}}}}]}}]
- apiVersion: networking.k8s.io/v1
  kind: Ingress
  metadata: {name: nginx-one, annotations: {kubernetes.io/ingress.class: nginx, kubernetes.io/ingress.existLbId: lb-abc}}
";

    #[test]
    fn reads_multi_document_yaml_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("nested")).unwrap();
        std::fs::write(dir.path().join("nested/state.yaml"), STATE).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not: [yaml").unwrap();
        let view = OfflineCluster::from_paths(&[dir.path().to_owned()]).unwrap();
        let state = view.state();

        let svc = state.service("demo", "tke-app-1").unwrap();
        assert_eq!(svc.service_type, "NodePort");
        assert_eq!(
            svc.ports,
            [ServicePortSummary {
                name: Some("http".into()),
                port: 80
            }]
        );
        assert_eq!(state.service("default", "tke-app-1"), None);

        let found = |ns: &str, name: &str| match state.secret(ns, name) {
            SecretLookup::Found(ids) => ids.cert_id,
            other => panic!("{other:?}"),
        };
        assert_eq!(found("default", "ssl").as_deref(), Some(&b"TKPmsWb3"[..]));
        assert_eq!(
            found("demo", "ssl-string").as_deref(),
            Some(&b"TKPmsWb3"[..])
        );
        assert_eq!(state.secret("demo", "ssl"), SecretLookup::NotFound);

        let on_lb = state.ingresses_on_lb("lb-abc");
        assert_eq!(on_lb.len(), 1, "the nginx Ingress is not ours");
        assert!(on_lb[0].enable_group);
        assert_eq!(
            on_lb[0].routes,
            [Route {
                host: "a.example.com".into(),
                path: "/".into()
            }]
        );
    }

    #[test]
    fn json_files_and_errors_name_the_file_and_document() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("svc.json");
        std::fs::write(
            &json,
            r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80}]}}"#,
        )
        .unwrap();
        let view = OfflineCluster::from_paths(std::slice::from_ref(&json)).unwrap();
        assert_eq!(
            view.state().service("default", "s").unwrap().service_type,
            "ClusterIP"
        );

        let bad = dir.path().join("bad.yaml");
        std::fs::write(
            &bad,
            "apiVersion: v1\nkind: Service\nspec: {ports: [{port: eighty}]}\n",
        )
        .unwrap();
        let err = OfflineCluster::from_paths(std::slice::from_ref(&bad))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("{}: document 1:", bad.display())),
            "{err}"
        );

        let missing = dir.path().join("missing.yaml");
        let err = OfflineCluster::from_paths(&[missing])
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.yaml"), "{err}");
    }

    /// The state through the value path (`parse_documents` + `add_object`), for comparison.
    fn via_values(text: &str) -> ClusterState {
        let mut state = ClusterState::default();
        for object in parse_documents(text).unwrap() {
            add_object(&mut state, object, "default").unwrap();
        }
        state
    }

    fn via_load_text(text: &str) -> ClusterState {
        let mut state = ClusterState::default();
        load_text(&mut state, text, "default").unwrap();
        state
    }

    fn assert_same(a: &ClusterState, b: &ClusterState) {
        assert_eq!(a.services, b.services);
        assert_eq!(a.secrets, b.secrets);
        assert_eq!(a.ingresses, b.ingresses);
    }

    #[test]
    fn streaming_load_keeps_what_the_value_path_keeps() {
        let streamed = via_load_text(STATE);
        assert_same(&streamed, &via_values(STATE));
        assert_eq!(
            (streamed.services.len(), streamed.secrets.len()),
            (1, 2),
            "{streamed:?}"
        );
        assert_eq!(streamed.ingresses_on_lb("lb-abc").len(), 1);
    }

    #[test]
    fn streaming_load_reads_kubectl_json_lists_with_items_before_kind() {
        // `kubectl get -o json` writes keys alphabetically: `items` comes before `kind`.
        let json = r#"{"apiVersion":"v1","items":[
            {"apiVersion":"v1","kind":"Service","metadata":{"name":"a","namespace":"x"},"spec":{"type":"NodePort","ports":[{"port":80}]}},
            [{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"qcloud_cert_id":"C1"}}],
            {"apiVersion":"v1","items":[{"apiVersion":"networking.k8s.io/v1beta1","kind":"Ingress","metadata":{"name":"i","namespace":"x","annotations":{"kubernetes.io/ingress.existLbId":"lb-1"}},"spec":{"rules":[{"host":"h.example.com","http":{"paths":[{"path":"/a","backend":{"serviceName":"a","servicePort":80}}]}}]}}],"kind":"IngressList"},
            null
        ],"kind":"List","metadata":{"resourceVersion":""}}"#;
        let streamed = via_load_text(json);
        assert_same(&streamed, &via_values(json));
        assert_eq!(streamed.service("x", "a").unwrap().service_type, "NodePort");
        assert!(matches!(
            streamed.secret("default", "s"),
            SecretLookup::Found(_)
        ));
        let on_lb = streamed.ingresses_on_lb("lb-1");
        assert_eq!(
            (
                on_lb[0].namespace.as_str(),
                on_lb[0].routes[0].path.as_str()
            ),
            ("x", "/a")
        );
    }

    #[test]
    fn items_of_an_object_that_is_not_a_list_are_not_read_as_objects() {
        let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nitems: [{kind: Service, apiVersion: v1, spec: {ports: [{port: bad}]}}]\n";
        let state = via_load_text(yaml);
        assert_eq!(state.services.len(), 1);
        assert_eq!(
            state.service("default", "s").unwrap().service_type,
            "ClusterIP"
        );
    }

    #[test]
    fn streaming_load_numbers_a_bad_object_as_parse_documents_does() {
        let yaml = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap}\n- {apiVersion: v1, kind: Service, metadata: {name: ok}}\n- {apiVersion: v1, kind: Service, spec: {ports: [{port: eighty}]}}\n";
        let mut state = ClusterState::default();
        let (document, message) = load_text(&mut state, yaml, "default").unwrap_err();
        assert_eq!(document, 3, "{message}");
        assert!(message.starts_with("Service:"), "{message}");
        assert!(
            state.services.is_empty(),
            "nothing is added from a file with an error"
        );
    }

    #[test]
    fn large_yaml_states_are_not_refused_by_the_parser_budget() {
        // More documents than serde-saphyr's default budget allows (1,024).
        let documents: Vec<String> = (0..1_100)
            .map(|i| format!("---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: ns}}\nspec: {{ports: [{{port: 80}}]}}\n"))
            .collect();
        assert_eq!(via_load_text(&documents.concat()).services.len(), 1_100);
    }
}
