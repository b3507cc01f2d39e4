//! The objects of a scale run, as the API server returns them (`kubectl get -o json` writes the
//! same): uid, resourceVersion, labels, managedFields and, for what `kubectl apply` made, the
//! last-applied annotation. Deterministic, so runs compare.
//!
//! - Service `app-{i}` (NodePort, one port) in namespace `team-{i % namespaces}`;
//! - qcloud Ingress `ing-{i}` routing `app-{i}.team-….example.com/` to `app-{i}`:80, with the
//!   CLB id TKE wrote; every 10th has a TLS entry naming Secret `tls-{i % secrets}`;
//! - Secret `tls-{k}` holding only `qcloud_cert_id` (a TKE certificate Secret).

use std::io::Write;

use base64::Engine as _;
use serde_json::{Value, json};

/// How many objects of each kind, and over how many namespaces.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub services: usize,
    pub ingresses: usize,
    pub secrets: usize,
    /// Must divide `secrets`, so an Ingress's TLS Secret is in its namespace.
    pub namespaces: usize,
}

impl Sizes {
    pub fn label(&self) -> String {
        format!("{}+{}+{}", self.services, self.ingresses, self.secrets)
    }
}

fn namespace(i: usize, sizes: Sizes) -> String {
    format!("team-{}", i % sizes.namespaces.max(1))
}

fn uid(kind: u8, i: usize) -> String {
    format!("6b1f8c0e-2d4a-4f63-9a{kind:02x}-{i:012x}")
}

fn managed_fields(api_version: &str, fields: &Value) -> Value {
    json!([{
        "manager": "kubectl-client-side-apply",
        "operation": "Update",
        "apiVersion": api_version,
        "time": "2026-11-24T20:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }])
}

pub fn service(i: usize, sizes: Sizes) -> Value {
    let (name, ns) = (format!("app-{i}"), namespace(i, sizes));
    let node_port = 30_000 + i % 2_768;
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name, "namespace": ns, "uid": uid(1, i),
            "creationTimestamp": "2026-11-24T20:00:00Z",
            "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "scale"},
            "managedFields": managed_fields("v1", &json!({
                "f:metadata": {"f:labels": {".": {}, "f:app.kubernetes.io/name": {},
                                            "f:app.kubernetes.io/part-of": {}}},
                "f:spec": {"f:externalTrafficPolicy": {}, "f:internalTrafficPolicy": {},
                           "f:ports": {".": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {
                               ".": {}, "f:name": {}, "f:nodePort": {}, "f:port": {},
                               "f:protocol": {}, "f:targetPort": {}}},
                           "f:selector": {}, "f:sessionAffinity": {}, "f:type": {}},
            })),
        },
        "spec": {
            "type": "NodePort",
            "selector": {"app": name},
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080,
                       "nodePort": node_port}],
            "clusterIP": format!("172.16.{}.{}", (i / 250) % 250, i % 250 + 1),
            "clusterIPs": [format!("172.16.{}.{}", (i / 250) % 250, i % 250 + 1)],
            "sessionAffinity": "None",
            "externalTrafficPolicy": "Cluster",
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
        },
        "status": {"loadBalancer": {}},
    })
}

pub fn ingress(i: usize, sizes: Sizes) -> Value {
    let (name, ns) = (format!("ing-{i}"), namespace(i, sizes));
    let host = format!("app-{i}.{ns}.example.com");
    let mut spec = json!({"rules": [{"host": host, "http": {"paths": [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": format!("app-{i}"), "port": {"number": 80}}},
    }]}}]});
    if i.is_multiple_of(10) && sizes.secrets > 0 {
        spec["tls"] =
            json!([{"hosts": [host], "secretName": format!("tls-{}", i % sizes.secrets)}]);
    }
    let applied = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns,
                     "annotations": {"kubernetes.io/ingress.class": "qcloud"}},
        "spec": spec,
    });
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name, "namespace": ns, "uid": uid(2, i), "generation": 1,
            "creationTimestamp": "2026-11-24T20:00:00Z",
            "labels": {"app.kubernetes.io/name": format!("app-{i}")},
            "annotations": {
                "kubernetes.io/ingress.class": "qcloud",
                "kubernetes.io/ingress.qcloud-loadbalance-id": format!("lb-{i:08x}"),
                "kubectl.kubernetes.io/last-applied-configuration": format!("{applied}\n"),
            },
            "managedFields": managed_fields("networking.k8s.io/v1", &json!({
                "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {},
                                                 "f:kubernetes.io/ingress.class": {}},
                               "f:labels": {".": {}, "f:app.kubernetes.io/name": {}}},
                "f:spec": {"f:rules": {}, "f:tls": {}},
            })),
        },
        "spec": spec,
        "status": {"loadBalancer": {"ingress": [{"ip": format!("10.0.{}.{}", (i / 250) % 250, i % 250)}]}},
    })
}

pub fn secret(k: usize, sizes: Sizes) -> Value {
    let cert_id = base64::engine::general_purpose::STANDARD.encode(format!("C{k:07}"));
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": format!("tls-{k}"), "namespace": namespace(k, sizes), "uid": uid(3, k),
            "creationTimestamp": "2026-11-24T20:00:00Z",
            "managedFields": managed_fields("v1", &json!({
                "f:data": {".": {}, "f:qcloud_cert_id": {}}, "f:type": {}})),
        },
        "data": {"qcloud_cert_id": cert_id},
    })
}

/// Every object of a run, one kind after another.
pub fn all(sizes: Sizes) -> impl Iterator<Item = Value> {
    (0..sizes.services)
        .map(move |i| service(i, sizes))
        .chain((0..sizes.ingresses).map(move |i| ingress(i, sizes)))
        .chain((0..sizes.secrets).map(move |k| secret(k, sizes)))
}

/// Writes `objects` as one `kind: List` in JSON, as `kubectl get -o json` does, one object at a
/// time (no value tree of the whole file). Returns the file's size.
pub fn write_list(path: &std::path::Path, objects: impl Iterator<Item = Value>) -> u64 {
    let file = std::fs::File::create(path).unwrap();
    let mut out = std::io::BufWriter::new(file);
    out.write_all(br#"{"apiVersion":"v1","items":["#).unwrap();
    for (n, object) in objects.enumerate() {
        if n > 0 {
            out.write_all(b",").unwrap();
        }
        serde_json::to_writer(&mut out, &object).unwrap();
    }
    out.write_all(br#"],"kind":"List","metadata":{"resourceVersion":""}}"#)
        .unwrap();
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}
