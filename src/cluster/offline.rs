//! The offline cluster view: Services, Secrets and Ingresses read from YAML or JSON files.
//!
//! Files may hold several YAML documents and `kind: List` objects; directories are read
//! recursively (`*.yaml`, `*.yml`, `*.json`, in name order). Objects of other kinds are skipped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Secret, Service};
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
    pub fn from_paths(paths: &[PathBuf]) -> Result<Self, LoadError> {
        let mut state = ClusterState::default();
        for path in paths {
            for file in files_under(path)? {
                let text = std::fs::read_to_string(&file).map_err(|e| LoadError::Io {
                    path: file.clone(),
                    message: e.to_string(),
                })?;
                for (index, object) in parse_documents(&text)
                    .map_err(|(document, message)| LoadError::Parse {
                        path: file.clone(),
                        document,
                        message,
                    })?
                    .into_iter()
                    .enumerate()
                {
                    add_object(&mut state, object, "default").map_err(|message| {
                        LoadError::Parse {
                            path: file.clone(),
                            document: index + 1,
                            message,
                        }
                    })?;
                }
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
        Value::Object(ref obj)
            if obj
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k == "List" || k.ends_with("List")) =>
        {
            if let Some(Value::Array(items)) = document.get("items").cloned() {
                for item in items {
                    expand_lists(item, out);
                }
            }
        }
        other => out.push(other),
    }
}

/// Adds one object to the state if it is a Service, Secret or Ingress; other kinds are ignored.
/// Objects without a namespace go to `default_namespace`, as kubectl does.
pub fn add_object(
    state: &mut ClusterState,
    object: Value,
    default_namespace: &str,
) -> Result<(), String> {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(default_namespace)
        .to_owned();
    match (kind.as_str(), api_version.as_str()) {
        ("Service", "v1") => {
            let service: Service =
                serde_json::from_value(object).map_err(|e| format!("Service: {e}"))?;
            let name = service.metadata.name.clone().unwrap_or_default();
            state.insert_service(&namespace, &name, summarise_service(&service));
        }
        ("Secret", "v1") => {
            let secret: Secret =
                serde_json::from_value(object).map_err(|e| format!("Secret: {e}"))?;
            let name = secret.metadata.name.clone().unwrap_or_default();
            state.insert_secret(&namespace, &name, cert_ids(&secret));
        }
        ("Ingress", _) if ingress::IngressVersion::from_api_version(&api_version).is_some() => {
            let decoded = ingress::decode(&api_version, object).map_err(|e| e.to_string())?;
            if ingress::is_qcloud(&decoded.ingress) {
                state.insert_ingress(summarise_ingress(&decoded.ingress, &namespace));
            }
        }
        _ => {}
    }
    Ok(())
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
}
