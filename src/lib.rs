//! qcloud-ingress-webhook: an admission webhook for Tencent Kubernetes Engine (TKE) Ingresses of
//! class `qcloud`, which TKE turns into Cloud Load Balancer (CLB) listeners and rules.
//!
//! Three layers:
//! - [`http`]: the axum/rustls server, AdmissionReview envelopes, metrics and logs;
//! - [`rules`]: pure functions from an Ingress and a read-only cluster view to findings and patches;
//! - [`cluster`]: that read-only cluster view (offline from YAML, or live from kube-rs caches).

pub mod audit;
pub mod certs;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod http;
pub mod ingress;
pub mod plan;
pub mod rules;
pub mod text;
