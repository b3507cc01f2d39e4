//! qcloud-ingress-webhook: an admission webhook for Tencent Kubernetes Engine (TKE) Ingresses of
//! class `qcloud`, which TKE turns into Cloud Load Balancer (CLB) listeners and rules.
//!
//! Floors, each using only those below it (docs/architecture.md; `tests/layers.rs` holds it):
//! - front ends: [`cli`] over [`http`] (`serve`), [`check`], [`plan`] and [`certs`] (`dev-certs`);
//! - [`manifest`]: reading manifests (files, lines, the inputs as a cluster) for `check` and `plan`;
//! - [`drive`]: the one path from an object to a decision (first pass, look-ups, rules,
//!   confirmation of a deny that rests on a cache) that every front end calls;
//! - [`audit`]: the Ingresses a cluster already has, judged by the rules;
//! - [`rules`]: the one admission function and every rule, pure functions from an Ingress and a
//!   read-only cluster view to findings and patches;
//! - [`cluster`]: that read-only view (offline from YAML, or live from kube-rs watches and
//!   Secret reads);
//! - [`cloud`]: opt-in read-only look-ups of certificates and CLBs in Tencent Cloud's own APIs;
//! - [`ingress`]: decoding Ingresses and the one model of what TKE builds; [`text`]: text helpers.

pub mod audit;
pub mod certs;
pub mod check;
pub mod cli;
pub mod cloud;
pub mod cluster;
pub mod drive;
pub mod http;
pub mod ingress;
pub mod manifest;
pub mod plan;
pub mod rules;
pub mod text;
