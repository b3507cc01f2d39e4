//! The offline cluster view: Services, Secrets and Ingresses read from YAML or JSON files.
//!
//! Files may hold several YAML documents and `kind: List` objects; directories are read
//! recursively (`*.yaml`, `*.yml`, `*.json`, in name order). Objects of other kinds are skipped.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::state_file::{self, FileError, files_under};
use super::{ClusterLookup, ClusterState, ClusterView, LookupFuture, LookupRequest};

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

    /// Reads every file and directory in `paths` into one state. A file with an error adds
    /// nothing.
    pub fn from_paths(paths: &[PathBuf]) -> Result<Self, LoadError> {
        let mut state = ClusterState::default();
        for path in paths {
            let io = |path: &std::path::Path, e: std::io::Error| LoadError::Io {
                path: path.to_owned(),
                message: e.to_string(),
            };
            for file in files_under(path).map_err(|e| io(path, e))? {
                let objects = state_file::read_file(&file, false).map_err(|e| match e {
                    FileError::Io(e) => io(&file, e),
                    FileError::Parse(document, message) => LoadError::Parse {
                        path: file.clone(),
                        document,
                        message,
                    },
                })?;
                for object in objects {
                    state_file::insert(&mut state, object, "default");
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

/// Adds one object to the state if it is a Service, Secret or qcloud Ingress; other kinds are
/// ignored. Objects without a namespace go to `default_namespace`, as kubectl does.
pub fn add_object(
    state: &mut ClusterState,
    object: Value,
    default_namespace: &str,
) -> Result<(), String> {
    state_file::insert(
        state,
        state_file::summarise(object, false)?,
        default_namespace,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Route, SecretLookup, ServicePortSummary};

    const STATE: &str = r"
apiVersion: v1
kind: Service
metadata: {name: tke-app-1, namespace: demo}
spec:
  type: NodePort
  ports: [{name: http, port: 80, nodePort: 30080}]
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
        assert_eq!(&*svc.service_type, "NodePort");
        assert_eq!(
            *svc.ports,
            [ServicePortSummary {
                name: Some("http".into()),
                port: 80,
                node_port: Some(30080),
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
                listener: crate::ingress::listeners::Listener::HTTP_80,
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
            &*view.state().service("default", "s").unwrap().service_type,
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

    fn via_load_text(text: &str) -> ClusterState {
        let mut state = ClusterState::default();
        for object in state_file::read(text, false).unwrap() {
            state_file::insert(&mut state, object, "default");
        }
        state
    }

    #[test]
    fn one_read_keeps_services_secrets_and_qcloud_ingresses() {
        let streamed = via_load_text(STATE);
        assert_eq!(streamed.counts(), (1, 2, 1), "{streamed:?}");
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
        assert_eq!(
            &*streamed.service("x", "a").unwrap().service_type,
            "NodePort"
        );
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
        assert_eq!(state.counts().0, 1);
        assert_eq!(
            &*state.service("default", "s").unwrap().service_type,
            "ClusterIP"
        );
    }

    #[test]
    fn a_bad_object_is_numbered_across_lists() {
        let yaml = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap}\n- {apiVersion: v1, kind: Service, metadata: {name: ok}}\n- {apiVersion: v1, kind: Service, spec: {ports: [{port: eighty}]}}\n";
        let (document, message) = state_file::read(yaml, false).unwrap_err();
        assert_eq!(document, 3, "{message}");
        assert!(message.starts_with("Service:"), "{message}");
    }

    #[test]
    fn ingresses_are_kept_whole_only_when_asked_and_other_kinds_say_what_they_are() {
        let yaml = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\n---\napiVersion: v1\nkind: Ingress\nmetadata: {name: j}\n";
        let kept = state_file::read(yaml, true).unwrap();
        assert!(
            matches!(&kept[0], state_file::Object::Ingress { object: Some(o), .. } if o["metadata"]["name"] == "i")
        );
        assert!(
            matches!(&kept[1], state_file::Object::Other { kind, api_version } if kind == "Ingress" && api_version == "v1")
        );
        let summarised = state_file::read(yaml, false).unwrap();
        assert!(matches!(
            &summarised[0],
            state_file::Object::Ingress {
                object: None,
                summary: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn large_yaml_states_are_not_refused_by_the_parser_budget() {
        // More documents than serde-saphyr's default budget allows (1,024).
        let documents: Vec<String> = (0..1_100)
            .map(|i| format!("---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: ns}}\nspec: {{ports: [{{port: 80}}]}}\n"))
            .collect();
        assert_eq!(via_load_text(&documents.concat()).counts().0, 1_100);
    }
}
