//! Inputs shared by the criterion benches, the same shapes as `scripts/bench/make_inputs.py`:
//! AdmissionReview bodies as the API server sends them (managedFields, last-applied
//! configuration, userInfo; 2-4 KB for the allowed and denied Ingresses), Ingresses of 1/50/500
//! rules, and a cluster state of 10,000 Services, 10,000 Ingresses and 2,000 Secrets.

#![allow(dead_code, reason = "each bench uses a different part of this module")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "bench set-up: a failed set-up is a failed bench"
)]

use qcloud_ingress_webhook::cluster::{
    ClusterState, IngressSummary, Route, SecretCertIds, ServicePortSummary, ServiceSummary,
};
use serde_json::{Value, json};

pub const NAMESPACE: &str = "bench";

/// The Ingress API version a body is written in.
#[derive(Debug, Clone, Copy)]
pub enum Version {
    V1,
    V1beta1,
}

impl Version {
    pub fn api_version(self) -> &'static str {
        match self {
            Self::V1 => "networking.k8s.io/v1",
            Self::V1beta1 => "networking.k8s.io/v1beta1",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V1beta1 => "v1beta1",
        }
    }
}

fn backend(version: Version, service: &str, port: u16) -> Value {
    match version {
        Version::V1 => json!({"service": {"name": service, "port": {"number": port}}}),
        Version::V1beta1 => json!({"serviceName": service, "servicePort": port}),
    }
}

fn rule(version: Version, host: &str, service: &str, path: &str) -> Value {
    json!({"host": host, "http": {"paths": [{
        "path": path, "pathType": "ImplementationSpecific", "backend": backend(version, service, 80)}]}})
}

fn ingress(
    version: Version,
    name: &str,
    rules: Vec<Value>,
    tls: Option<Value>,
    annotations: &Value,
) -> Value {
    let mut spec = json!({"rules": Value::Array(rules)});
    if let Some(tls) = tls {
        spec["tls"] = tls;
    }
    json!({
        "apiVersion": version.api_version(), "kind": "Ingress",
        "metadata": {"name": name, "namespace": NAMESPACE, "annotations": annotations},
        "spec": spec,
    })
}

/// Adds what a real object carries on CREATE: last-applied, managedFields, uid, labels.
fn as_sent_by_apiserver(mut object: Value) -> Value {
    let applied = object.to_string();
    let meta = &mut object["metadata"];
    meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        Value::String(applied + "\n");
    let name = meta["name"].clone();
    meta["labels"] = json!({"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "bench"});
    meta["uid"] = json!("6b1f8c0e-2d4a-4f63-9a57-0c5b8e9d1a01");
    meta["creationTimestamp"] = json!("2026-11-24T20:00:00Z");
    meta["generation"] = json!(1);
    let mut fields = serde_json::Map::new();
    fields.insert(".".into(), json!({}));
    for key in meta["annotations"].as_object().unwrap().keys() {
        fields.insert(format!("f:{key}"), json!({}));
    }
    meta["managedFields"] = json!([{
        "manager": "kubectl-client-side-apply", "operation": "Update",
        "apiVersion": "networking.k8s.io/v1", "time": "2026-11-24T20:00:00Z", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:annotations": fields,
                                    "f:labels": {".": {}, "f:app.kubernetes.io/name": {},
                                                 "f:app.kubernetes.io/part-of": {}}},
                     "f:spec": {"f:rules": {}, "f:tls": {}}},
    }]);
    object
}

/// An `admission.k8s.io/v1` AdmissionReview body for a CREATE of `object`.
pub fn review_body(version: Version, object: Value) -> Vec<u8> {
    let object = as_sent_by_apiserver(object);
    let (group, ingress_version) = version.api_version().split_once('/').unwrap();
    let kind = json!({"group": group, "version": ingress_version, "kind": "Ingress"});
    let resource = json!({"group": group, "version": ingress_version, "resource": "ingresses"});
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "bench-uid",
            "kind": kind, "resource": resource, "requestKind": kind, "requestResource": resource,
            "name": object["metadata"]["name"], "namespace": NAMESPACE,
            "operation": "CREATE",
            "userInfo": {"username": "alice@example.com", "uid": "u-1",
                         "groups": ["system:authenticated", "dev-team"]},
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions",
                        "fieldManager": "kubectl-client-side-apply"},
        },
    }))
    .unwrap()
}

/// An Ingress that passes every rule: two hosts, TLS with a certificate id, rule-mix.
pub fn allowed(version: Version) -> Value {
    ingress(
        version,
        "shop",
        vec![
            rule(version, "www.shop.example.com", "web", "/"),
            rule(version, "api.shop.example.com", "api", "/v1"),
        ],
        Some(
            json!([{"hosts": ["www.shop.example.com", "api.shop.example.com"], "secretName": "web-tls"}]),
        ),
        &json!({
            "kubernetes.io/ingress.class": "qcloud",
            "kubernetes.io/ingress.rule-mix": "true",
            "kubernetes.io/ingress.http-rules":
                r#"[{"host":"www.shop.example.com","path":"/","backend":{"serviceName":"web","servicePort":"80"}}]"#,
            "kubernetes.io/ingress.https-rules":
                r#"[{"host":"api.shop.example.com","path":"/v1","backend":{"serviceName":"api","servicePort":"80"}}]"#,
        }),
    )
}

/// An Ingress with several findings: ClusterIP backend, host without a dot, a path CLB rejects,
/// a missing Service, a TLS Secret without qcloud_cert_id, a malformed http-rules annotation.
pub fn denied(version: Version) -> Value {
    ingress(
        version,
        "broken",
        vec![
            rule(version, "shop", "internal", "/"),
            rule(version, "www.shop.example.com", "web", "/api/*"),
            rule(version, "img.shop.example.com", "missing", "/"),
        ],
        Some(json!([{"hosts": ["www.shop.example.com"], "secretName": "empty-tls"}])),
        &json!({
            "kubernetes.io/ingress.class": "qcloud",
            "kubernetes.io/ingress.http-rules": r#"[{"host":"www.shop.example.com","path":"/",}]"#,
        }),
    )
}

/// An allowed Ingress with `n` rules (cost should be linear in `n`).
pub fn with_rules(version: Version, n: usize) -> Value {
    let rules = (0..n)
        .map(|i| {
            rule(
                version,
                &format!("h{i}.shop.example.com"),
                &format!("svc-{}", i % 500),
                &format!("/p{i}"),
            )
        })
        .collect();
    ingress(version, &format!("rules-{n}"), rules, None, &json!({}))
}

fn node_port_service() -> ServiceSummary {
    ServiceSummary {
        service_type: "NodePort".into(),
        ports: vec![ServicePortSummary {
            name: Some("http".into()),
            port: 80,
            node_port: None,
        }]
        .into(),
        ..ServiceSummary::default()
    }
}

fn cert(id: &str) -> SecretCertIds {
    SecretCertIds {
        cert_id: Some(id.as_bytes().to_vec()),
        ca_cert_id: None,
    }
}

/// The Services and Secrets the bench Ingresses refer to.
pub fn small_state() -> ClusterState {
    let mut state = ClusterState::default();
    for name in ["web", "api"] {
        state.insert_service(NAMESPACE, name, node_port_service());
    }
    state.insert_service(
        NAMESPACE,
        "internal",
        ServiceSummary {
            service_type: "ClusterIP".into(),
            ..node_port_service()
        },
    );
    for i in 0..500 {
        state.insert_service(NAMESPACE, &format!("svc-{i}"), node_port_service());
    }
    state.insert_secret(NAMESPACE, "web-tls", cert("TKPmsWb3"));
    state.insert_secret(NAMESPACE, "empty-tls", SecretCertIds::default());
    state
}

/// The small state plus 10,000 Services, 10,000 qcloud Ingresses and 2,000 Secrets.
pub fn large_state() -> ClusterState {
    let mut state = small_state();
    for i in 0..10_000 {
        let namespace = format!("team-{}", i % 200);
        state.insert_service(&namespace, &format!("app-{i}"), node_port_service());
        state.insert_ingress(IngressSummary {
            namespace: namespace.clone(),
            name: format!("ing-{i}"),
            exist_lb_id: None,
            lb_id: Some(format!("lb-{i:08x}")),
            enable_group: false,
            routes: vec![Route {
                listener: qcloud_ingress_webhook::ingress::listeners::Listener::HTTP_80,
                host: format!("app-{i}.{namespace}.example.com"),
                path: "/".into(),
            }],
            backends: vec![format!("app-{i}")],
        });
    }
    for i in 0..2_000 {
        state.insert_secret(
            &format!("team-{}", i % 200),
            &format!("tls-{i}"),
            cert(&format!("C{i:07}")),
        );
    }
    state
}
