//! The one reader of Kubernetes object files (cluster states for `serve`, manifests and states
//! for `check`): YAML with several documents, or JSON; `kind: List` (or any `*List`) and
//! top-level arrays expanded. Each object is reduced to what the cluster view keeps of it while
//! the text is parsed, so no value tree of a whole file is ever built: a 7 MB state of 22,000
//! objects stays a few MB above the summaries instead of hundreds.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Secret, Service};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::ClusterState;
use super::summary::{
    IngressSummary, SecretCertIds, ServiceSummary, cert_ids, summarise_ingress, summarise_service,
};
use crate::ingress;
use crate::text::one_line;

/// What the reader keeps of one object, before its namespace default is applied.
#[derive(Debug, Clone)]
pub enum Object {
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
    /// An Ingress in a version we read.
    Ingress {
        namespace: Option<String>,
        /// `None` for an Ingress of another class: no conflict rule asks about it.
        summary: Option<IngressSummary>,
        /// The whole object, when the reader was asked to keep Ingresses.
        object: Option<Value>,
    },
    /// Any other kind, or an Ingress in an apiVersion no API server serves.
    Other { kind: String, api_version: String },
}

/// Reads every object of a text. `keep_ingresses` keeps each Ingress's whole object as well. On
/// failure returns the 1-based number of the object (counted across documents and lists) and
/// the reason.
pub fn read(text: &str, keep_ingresses: bool) -> Result<Vec<Object>, (usize, String)> {
    if keep_ingresses {
        read_with::<true>(text)
    } else {
        read_with::<false>(text)
    }
}

fn read_with<const KEEP: bool>(text: &str) -> Result<Vec<Object>, (usize, String)> {
    let documents: Vec<Summaries<KEEP>> = if text.trim_start().starts_with(['{', '[']) {
        vec![serde_json::from_str(text).map_err(|e| (1, one_line(&e.to_string())))?]
    } else {
        serde_saphyr::from_multiple_with_options(text, yaml_options(text.len()))
            .map_err(|e| (1, one_line(&e.to_string())))?
    };
    documents
        .into_iter()
        .flat_map(|d| d.0)
        .enumerate()
        .map(|(index, outcome)| outcome.map_err(|message| (index + 1, message)))
        .collect()
}

/// Why a file could not be read: the file itself, or its object number (1-based) and reason.
#[derive(Debug)]
pub enum FileError {
    Io(std::io::Error),
    Parse(usize, String),
}

/// Reads every object of a file, as [`read`] does. JSON (what `kubectl get -o json` writes) is
/// parsed from the file as it is read, so a state file of hundreds of MB is never held whole;
/// YAML is read into memory first.
pub fn read_file(path: &Path, keep_ingresses: bool) -> Result<Vec<Object>, FileError> {
    use std::io::{BufRead, Read};
    let file = std::fs::File::open(path).map_err(FileError::Io)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let is_json = reader
        .fill_buf()
        .map_err(FileError::Io)?
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    if !is_json {
        let mut text = String::new();
        reader.read_to_string(&mut text).map_err(FileError::Io)?;
        return read(&text, keep_ingresses).map_err(|(n, m)| FileError::Parse(n, m));
    }
    let documents = if keep_ingresses {
        serde_json::from_reader::<_, Summaries<true>>(reader).map(|d| d.0)
    } else {
        serde_json::from_reader::<_, Summaries<false>>(reader).map(|d| d.0)
    };
    documents
        .map_err(|e| FileError::Parse(1, one_line(&e.to_string())))?
        .into_iter()
        .enumerate()
        .map(|(index, outcome)| outcome.map_err(|message| FileError::Parse(index + 1, message)))
        .collect()
}

/// Adds an object to the state (Services, Secrets, qcloud Ingresses; others are not kept).
/// Objects without a namespace go to `default_namespace`, as kubectl does.
pub fn insert(state: &mut ClusterState, object: Object, default_namespace: &str) {
    let or_default =
        |namespace: Option<String>| namespace.unwrap_or_else(|| default_namespace.to_owned());
    match object {
        Object::Service {
            namespace,
            name,
            service,
        } => state.insert_service(&or_default(namespace), &name, service),
        Object::Secret {
            namespace,
            name,
            ids,
        } => state.insert_secret(&or_default(namespace), &name, ids),
        Object::Ingress {
            namespace,
            summary: Some(mut summary),
            ..
        } => {
            summary.namespace = or_default(namespace);
            state.insert_ingress(summary);
        }
        Object::Ingress { summary: None, .. } | Object::Other { .. } => {}
    }
}

/// Reduces one parsed object to an [`Object`].
pub fn summarise(object: Value, keep: bool) -> Result<Object, String> {
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
            Object::Service {
                namespace,
                service: summarise_service(&service),
                name: service.metadata.name.unwrap_or_default(),
            }
        }
        ("Secret", "v1") => {
            let secret: Secret =
                serde_json::from_value(object).map_err(|e| format!("Secret: {e}"))?;
            Object::Secret {
                namespace,
                ids: cert_ids(&secret),
                name: secret.metadata.name.unwrap_or_default(),
            }
        }
        ("Ingress", _) if ingress::IngressVersion::from_api_version(&api_version).is_some() => {
            let mut object = object;
            ingress::drop_unread(&mut object);
            let kept = keep.then(|| object.clone());
            let decoded = ingress::decode(&api_version, object).map_err(|e| e.to_string())?;
            Object::Ingress {
                namespace,
                summary: ingress::is_qcloud(&decoded.ingress)
                    .then(|| summarise_ingress(&decoded.ingress, "")),
                object: kept,
            }
        }
        _ => Object::Other { kind, api_version },
    })
}

/// serde-saphyr's default budget (250,000 nodes, 1,024 documents) guards against hostile input;
/// these files come from the operator or the user's own repository, and `kubectl get -A -o yaml`
/// of a 10,000-object cluster needs millions of nodes. So the limits follow the text's length:
/// YAML without aliases has at most about one event and one node per byte, while aliases that
/// expand far beyond the text (a "billion laughs") break the budget while it is still small.
pub fn yaml_options(text_bytes: usize) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = text_bytes.saturating_add(100_000);
    budget.max_nodes = text_bytes.saturating_add(100_000);
    budget.max_documents = 1_000_000;
    budget.max_recorded_anchor_bytes = 4 * 1024 * 1024;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// `List`, or a typed list such as `ServiceList`.
pub fn is_list_kind(kind: &str) -> bool {
    kind.ends_with("List")
}

/// The files a path stands for: itself, or the YAML/JSON files under it, sorted.
pub fn files_under(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        // Let the read report a missing file with its path.
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
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

/// The summaries of one document, made while it is deserialized: a List's items (and a
/// top-level array's elements) are each parsed into a small value, summarised and dropped
/// before the next one is read.
/// With `KEEP`, an Ingress keeps its whole object too (for `check`, which judges it).
struct Summaries<const KEEP: bool>(Vec<Result<Object, String>>);

impl<'de, const KEEP: bool> Deserialize<'de> for Summaries<KEEP> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocumentVisitor::<KEEP>)
    }
}

struct DocumentVisitor<const KEEP: bool>;

impl<'de, const KEEP: bool> Visitor<'de> for DocumentVisitor<KEEP> {
    type Value = Summaries<KEEP>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Kubernetes object, a List of objects, or an array of them")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Summaries<KEEP>, E> {
        Ok(Summaries(Vec::new()))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Summaries<KEEP>, E> {
        Ok(Summaries(Vec::new()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Summaries<KEEP>, A::Error> {
        let mut out = Vec::new();
        while let Some(Summaries(items)) = seq.next_element::<Summaries<KEEP>>()? {
            out.extend(items);
        }
        Ok(Summaries(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Summaries<KEEP>, A::Error> {
        // `items` may come before `kind` (kubectl writes keys in alphabetical order), so the
        // items are summarised as they come and kept only if the object turns out to be a List.
        let mut fields = serde_json::Map::new();
        let mut items = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                items = Some(map.next_value::<Items<KEEP>>()?);
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
                Summaries(vec![summarise(Value::Object(fields), KEEP)])
            }
        })
    }
}

/// The value of an object's `items` key: summarised when it is an array (a List's items), kept
/// as a value otherwise.
enum Items<const KEEP: bool> {
    Summarised(Vec<Result<Object, String>>),
    Other(Value),
}

impl<'de, const KEEP: bool> Deserialize<'de> for Items<KEEP> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemsVisitor::<KEEP>)
    }
}

struct ItemsVisitor<const KEEP: bool>;

macro_rules! items_as_value {
    ($($method:ident($ty:ty)),*) => {
        $(fn $method<E: serde::de::Error>(self, v: $ty) -> Result<Items<KEEP>, E> {
            Ok(Items::Other(Value::from(v)))
        })*
    };
}

impl<'de, const KEEP: bool> Visitor<'de> for ItemsVisitor<KEEP> {
    type Value = Items<KEEP>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of Kubernetes objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Items<KEEP>, A::Error> {
        DocumentVisitor::<KEEP>
            .visit_seq(seq)
            .map(|Summaries(items)| Items::Summarised(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Items<KEEP>, A::Error> {
        Value::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Items::Other)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Items<KEEP>, E> {
        Ok(Items::Other(Value::Null))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Items<KEEP>, E> {
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
