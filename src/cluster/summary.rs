//! What the cluster view keeps of each object: small summaries of the fields the rules read,
//! made from the full objects the same way in offline and live mode. Nothing else of an object
//! is kept; of a Secret, only the two certificate-id keys.

use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1 as k8s;

use super::by_name::Interner;
use crate::ingress::{Ingress, keys};

/// Key of the certificate id in a TKE TLS Secret.
pub const CERT_ID_KEY: &str = "qcloud_cert_id";
/// Key of the client CA certificate id (mutual TLS).
pub const CA_CERT_ID_KEY: &str = "qcloud_ca_cert_id";

/// The Service annotation that binds a Service to a CLB made in the CLB console.
pub const SERVICE_EXISTED_LB_ID: &str = "service.kubernetes.io/tke-existed-lbid";

/// What the rules need to know about a Service. Its parts are shared, not copied: the view
/// hands out a clone per look-up (a review of 500 backends makes 500), which costs three
/// reference counts instead of a String per part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSummary {
    /// `spec.type`; Kubernetes defaults an unset type to `ClusterIP`.
    pub service_type: Arc<str>,
    pub ports: Arc<[ServicePortSummary]>,
    /// `service.kubernetes.io/tke-existed-lbid`: the console CLB this Service uses, if any.
    pub existed_lb_id: Option<Arc<str>>,
}

impl Default for ServiceSummary {
    fn default() -> Self {
        Self {
            service_type: Arc::from(""),
            ports: Arc::new([]),
            existed_lb_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServicePortSummary {
    pub name: Option<Arc<str>>,
    pub port: i32,
    /// `nodePort`: the port the CLB binds on every node (NodePort and LoadBalancer Services).
    /// `None` in a manifest that leaves it to Kubernetes, and for ClusterIP Services.
    pub node_port: Option<i32>,
}

/// The two keys of a TLS Secret that TKE reads. Nothing else of a Secret is ever kept.
///
/// `Debug` prints only whether each key is present, so a stray `{:?}` cannot leak data.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretCertIds {
    /// Decoded value of `qcloud_cert_id` (from `data`, or `stringData` when read from files).
    pub cert_id: Option<Vec<u8>>,
    /// Decoded value of `qcloud_ca_cert_id`.
    pub ca_cert_id: Option<Vec<u8>>,
}

impl fmt::Debug for SecretCertIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretCertIds")
            .field("has_cert_id", &self.cert_id.is_some())
            .field("has_ca_cert_id", &self.ca_cert_id.is_some())
            .finish()
    }
}

pub use crate::ingress::listeners::Route;

/// What conflict rules need to know about another Ingress.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngressSummary {
    pub namespace: String,
    pub name: String,
    /// `kubernetes.io/ingress.existLbId`, when set.
    pub exist_lb_id: Option<String>,
    /// `kubernetes.io/ingress.qcloud-loadbalance-id` (written by TKE), when set.
    pub lb_id: Option<String>,
    /// `ingress.cloud.tencent.com/enable-group` is `"true"`.
    pub enable_group: bool,
    pub routes: Vec<Route>,
    /// The Services its spec paths name, once each (for judging it again when one changes).
    pub backends: Vec<String>,
}

pub fn summarise_service(service: &Service) -> ServiceSummary {
    let spec = service.spec.as_ref();
    let existed_lb_id = service
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SERVICE_EXISTED_LB_ID))
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(Arc::from);
    ServiceSummary {
        existed_lb_id,
        service_type: Arc::from(spec.and_then(|s| s.type_.as_deref()).unwrap_or("ClusterIP")),
        ports: spec
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten()
            .map(|p| ServicePortSummary {
                name: p.name.as_deref().map(Arc::from),
                port: p.port,
                node_port: p.node_port,
            })
            .collect(),
    }
}

/// A Secret's certificate ids. Only the two certificate-id keys are taken; `stringData` wins over `data` as the API server's
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

/// What the view keeps of a watched Ingress, when it is TKE's.
pub fn summarise_qcloud(ingress: &k8s::Ingress, namespace: &str) -> Option<IngressSummary> {
    let ingress = Ingress::from_k8s(ingress);
    crate::ingress::is_qcloud(&ingress).then(|| summarise_ingress(&ingress, namespace))
}

pub fn summarise_ingress(ingress: &Ingress<'_>, namespace: &str) -> IngressSummary {
    let annotation = |key: &str| {
        ingress
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let routes = crate::ingress::listeners::routes(ingress);
    let mut backends: Vec<String> = crate::ingress::listeners::spec_paths(ingress)
        .filter_map(|p| p.backend_ref().map(|(service, _)| service.to_owned()))
        .collect();
    backends.sort_unstable();
    backends.dedup();
    IngressSummary {
        namespace: namespace.to_owned(),
        name: ingress
            .metadata
            .name
            .as_deref()
            .unwrap_or_default()
            .to_owned(),
        exist_lb_id: annotation(keys::EXIST_LB_ID),
        lb_id: annotation(keys::LOADBALANCE_ID),
        enable_group: annotation(keys::ENABLE_GROUP).as_deref() == Some("true"),
        routes,
        backends,
    }
}

/// A Service as the cluster view stores it: its [`ServiceSummary`], with the strings that repeat
/// across Services (type, port names) shared and no spare capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredService(ServiceSummary);

impl StoredService {
    pub(crate) fn new(summary: &ServiceSummary, strings: &mut Interner) -> Self {
        Self(ServiceSummary {
            service_type: strings.intern(&summary.service_type),
            ports: summary
                .ports
                .iter()
                .map(|p| ServicePortSummary {
                    name: p.name.as_deref().map(|n| strings.intern(n)),
                    port: p.port,
                    node_port: p.node_port,
                })
                .collect(),
            existed_lb_id: summary.existed_lb_id.clone(),
        })
    }

    pub(crate) fn summary(&self) -> ServiceSummary {
        self.0.clone()
    }

    pub(crate) fn existed_lb_id(&self) -> Option<&Arc<str>> {
        self.0.existed_lb_id.as_ref()
    }
}

/// A qcloud Ingress as the cluster view stores it: what [`IngressSummary`] holds but its
/// namespace and name (the keys it is stored under), common paths shared, no spare capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredIngress {
    exist_lb_id: Option<Arc<str>>,
    lb_id: Option<Arc<str>>,
    enable_group: bool,
    routes: Box<[StoredRoute]>,
    backends: Box<[Box<str>]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredRoute {
    listener: crate::ingress::listeners::Listener,
    host: Box<str>,
    path: Arc<str>,
}

impl StoredIngress {
    pub(crate) fn new(summary: &IngressSummary, strings: &mut Interner) -> Self {
        let lb = |id: &Option<String>| id.as_deref().map(Arc::from);
        Self {
            exist_lb_id: lb(&summary.exist_lb_id),
            lb_id: lb(&summary.lb_id),
            enable_group: summary.enable_group,
            routes: summary
                .routes
                .iter()
                .map(|r| StoredRoute {
                    listener: r.listener,
                    host: r.host.as_str().into(),
                    path: strings.intern(&r.path),
                })
                .collect(),
            backends: summary.backends.iter().map(|b| b.as_str().into()).collect(),
        }
    }

    pub(crate) fn summary(&self, namespace: &str, name: &str) -> IngressSummary {
        let lb = |id: &Option<Arc<str>>| id.as_deref().map(str::to_owned);
        IngressSummary {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            exist_lb_id: lb(&self.exist_lb_id),
            lb_id: lb(&self.lb_id),
            enable_group: self.enable_group,
            routes: self
                .routes
                .iter()
                .map(|r| Route {
                    listener: r.listener,
                    host: r.host.to_string(),
                    path: r.path.to_string(),
                })
                .collect(),
            backends: self.backends.iter().map(ToString::to_string).collect(),
        }
    }

    /// The CLB ids it is on (`existLbId`, and TKE's id when that differs), once each.
    pub(crate) fn lb_ids(&self) -> impl Iterator<Item = &Arc<str>> {
        let exist = self.exist_lb_id.as_ref();
        let owned = self.lb_id.as_ref().filter(|id| Some(*id) != exist);
        exist.into_iter().chain(owned)
    }

    pub(crate) fn uses_backend(&self, service: &str) -> bool {
        self.backends.iter().any(|b| &**b == service)
    }
}
