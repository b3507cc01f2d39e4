//! Audit: what the webhook would say about the Ingresses a cluster already has.
//!
//! Each qcloud Ingress is judged by the one admission function as a CREATE of the object as it
//! stands (no ratcheting: an old mistake is still a mistake), against the live cluster view. In
//! `serve` a background pass ([`live`]) keeps the findings current and `/audit` on the admin port
//! shows them; `qcloud-ingress-webhook audit` runs one pass from a workstation or a CI job.

pub mod events;
pub mod lease;
pub mod live;
pub mod output;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::cluster::ClusterLookup;
use crate::rules::catalogue;
use crate::rules::{
    AdmissionInput, Decision, Endpoint, Engine, Finding, Kind, ObjectInput, Operation, Requester,
};

/// One finding on one Ingress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub namespace: String,
    pub name: String,
    pub rule: &'static str,
    pub severity: &'static str,
    pub field: String,
    pub tke_code: Option<&'static str>,
    pub message: String,
    /// With severity `skipped`: the reason the Ingress's skip annotation gives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Entry {
    /// A finding that denies or warns.
    fn from(namespace: &str, name: &str, finding: &Finding) -> Self {
        let mut message = finding.problem.clone();
        if !finding.fix.is_empty() {
            message.push_str("; ");
            message.push_str(&finding.fix);
        }
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            rule: finding.rule.id,
            severity: finding.severity.as_str(),
            field: finding.field.clone(),
            tke_code: finding.tke_code,
            message,
            reason: None,
        }
    }

    /// A finding the Ingress's skip annotation skipped, with its reason.
    fn skipped(namespace: &str, name: &str, finding: &Finding, reason: &str) -> Self {
        Self {
            severity: "skipped",
            reason: Some(reason.to_owned()),
            ..Self::from(namespace, name, finding)
        }
    }
}

/// The outcome of a pass: when it ended, how many qcloud Ingresses were judged, what was found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// RFC 3339; `None` before the first pass has ended.
    pub last_pass: Option<String>,
    pub ingresses: usize,
    pub findings: Vec<Entry>,
}

impl Report {
    /// Ingresses with at least one deny finding (the webhook would refuse them as they stand).
    pub fn denied(&self) -> usize {
        let mut denied: Vec<(&str, &str)> = self
            .findings
            .iter()
            .filter(|e| e.severity == "deny")
            .map(|e| (e.namespace.as_str(), e.name.as_str()))
            .collect();
        denied.sort_unstable();
        denied.dedup();
        denied.len()
    }
}

/// The admission request an audit makes for an Ingress as it stands.
pub fn input<'a>(object: &'a RawValue, namespace: &'a str) -> AdmissionInput<'a> {
    AdmissionInput {
        endpoint: Endpoint::Validate,
        operation: Operation::Create,
        kind: Kind::INGRESS_V1,
        namespace: Some(namespace),
        object: Some(ObjectInput::Text(object)),
        old_object: None,
        requester: Requester::default(),
    }
}

/// Rules about what a user writes on CREATE that an existing Ingress meets because TKE wrote it:
/// `read-only-annotation` would flag the CLB id TKE records on every Ingress it has built.
const NOT_AUDITED: [&str; 1] = [catalogue::READ_ONLY_ANNOTATION.id];

/// What the admission function says of one Ingress: `None` when it is not a qcloud Ingress the
/// rules judge (another class, an exempt namespace). What its skip annotation skipped is listed
/// too, with severity `skipped`.
pub fn entries(namespace: &str, name: &str, decision: &Decision) -> Option<Vec<Entry>> {
    let audited = |f: &&Finding| !NOT_AUDITED.contains(&f.rule.id);
    decision.reviewed.then(|| {
        let skipped = decision.skipped_findings();
        (decision.findings.iter().filter(audited))
            .map(|f| Entry::from(namespace, name, f))
            .chain(
                (skipped.findings.iter().filter(audited))
                    .map(|f| Entry::skipped(namespace, name, f, &skipped.reason)),
            )
            .collect()
    })
}

/// Judges one Ingress against a view that has everything at hand.
pub fn judge(
    engine: &Engine,
    object: &RawValue,
    namespace: &str,
    name: &str,
    cluster: &dyn ClusterLookup,
) -> Option<Vec<Entry>> {
    let decision = engine.admit_with(input(object, namespace), cluster);
    entries(namespace, name, &decision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clb_id_tke_wrote_is_not_a_finding() {
        let object = serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "shop", "annotations": {
                "kubernetes.io/ingress.class": "qcloud",
                "kubernetes.io/ingress.qcloud-loadbalance-id": "lb-0a1b2c3d",
                "kubernetes.io/ingress.http-rules": "[{\"path\": 1}]"}},
            "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}
        });
        let raw = serde_json::value::to_raw_value(&object).unwrap();
        let engine = Engine::new(crate::rules::Settings::default()).unwrap();
        let state = crate::cluster::ClusterState::default();
        let decision = engine.admit_with(input(&raw, "shop"), &state);
        let rules = |ids: Vec<&str>| ids.contains(&"read-only-annotation");
        // A review of the same object (a CREATE) reports the key; the audit does not.
        assert!(rules(decision.findings.iter().map(|f| f.rule.id).collect()));
        let audited = judge(&engine, &raw, "shop", "web", &state).unwrap();
        let audited: Vec<&str> = audited.iter().map(|e| e.rule).collect();
        assert!(!rules(audited.clone()), "{audited:?}");
        // Other findings on it still are.
        assert!(audited.contains(&"http-rules-json"), "{audited:?}");
    }
}
