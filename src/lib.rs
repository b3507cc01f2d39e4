//! qcloud-ingress-webhook: an admission webhook for Tencent Kubernetes Engine (TKE) Ingresses of
//! class `qcloud`, which TKE turns into Cloud Load Balancer (CLB) listeners and rules.
//!
//! Three layers:
//! - [`http`]: the axum/rustls server, AdmissionReview envelopes, metrics and logs;
//! - [`rules`]: pure functions from an Ingress and a read-only cluster view to findings and patches;
//! - [`cluster`]: that read-only cluster view (offline from YAML, or live from kube-rs caches).
//!
//! [`drive`] sits above the rules and the cluster view: the one path from an object to a decision
//! (first pass, look-ups, rules, confirmation of a deny that rests on a cache) that the front ends
//! call.

pub mod audit;
pub mod certs;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod drive;
pub mod http;
pub mod ingress;
pub mod plan;
pub mod rules;
pub mod text;
