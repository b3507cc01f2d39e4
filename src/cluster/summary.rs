//! What the cluster view keeps of each object: small summaries of the fields the rules read,
//! made from the full objects the same way in offline and live mode. Nothing else of an object
//! is kept; of a Secret, only the two certificate-id keys.

use std::fmt;

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;

use crate::ingress::keys;

/// Key of the certificate id in a TKE TLS Secret.
pub const CERT_ID_KEY: &str = "qcloud_cert_id";
/// Key of the client CA certificate id (mutual TLS).
pub const CA_CERT_ID_KEY: &str = "qcloud_ca_cert_id";

/// The Service annotation that binds a Service to a CLB made in the CLB console.
pub const SERVICE_EXISTED_LB_ID: &str = "service.kubernetes.io/tke-existed-lbid";

/// What the rules need to know about a Service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceSummary {
    /// `spec.type`; Kubernetes defaults an unset type to `ClusterIP`.
    pub service_type: String,
    pub ports: Vec<ServicePortSummary>,
    /// `service.kubernetes.io/tke-existed-lbid`: the console CLB this Service uses, if any.
    pub existed_lb_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServicePortSummary {
    pub name: Option<String>,
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
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    ServiceSummary {
        existed_lb_id,
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

pub fn summarise_ingress(ingress: &Ingress, namespace: &str) -> IngressSummary {
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
        .filter_map(|p| p.backend().map(|(service, _)| service.to_owned()))
        .collect();
    backends.sort_unstable();
    backends.dedup();
    IngressSummary {
        namespace: namespace.to_owned(),
        name: ingress.metadata.name.clone().unwrap_or_default(),
        exist_lb_id: annotation(keys::EXIST_LB_ID),
        lb_id: annotation(keys::LOADBALANCE_ID),
        enable_group: annotation(keys::ENABLE_GROUP).as_deref() == Some("true"),
        routes,
        backends,
    }
}
