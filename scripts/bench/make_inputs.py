#!/usr/bin/env python3
"""Writes the inputs of scripts/bench.sh into a directory.

- review-allowed.json: a v1 AdmissionReview of a qcloud Ingress that passes every rule, shaped
  the way the API server sends it (managedFields, last-applied-configuration, userInfo); 2-4 KB.
- review-denied.json: the same size, with several findings (ClusterIP backend, host without a
  dot, path with characters CLB rejects, TLS Secret without qcloud_cert_id).
- review-rules-{1,50,500}.json: allowed Ingresses with that many rules (cost linear in the request).
- static-response.json: what the nginx baseline returns, the size of the webhook's answer.
- state-small/: the Services and Secrets the requests refer to.
- state-large/: the same plus 10,000 Services, 10,000 Ingresses and 2,000 Secrets.

Deterministic: the same files every run, so runs compare.
"""

import base64
import json
import os
import sys

NAMESPACE = "bench"


def service(name, namespace=NAMESPACE, svc_type="NodePort", port=80):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": svc_type,
            "selector": {"app": name},
            "ports": [{"name": "http", "port": port, "targetPort": 8080, "nodePort": 30000 + port % 2000}],
        },
    }


def secret(name, cert_id, namespace=NAMESPACE):
    data = {"tls.note": base64.b64encode(b"not a real key").decode()}
    if cert_id is not None:
        data["qcloud_cert_id"] = base64.b64encode(cert_id.encode()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace}, "data": data}


def ingress(name, rules, tls=None, namespace=NAMESPACE, annotations=None):
    spec = {"rules": rules}
    if tls:
        spec["tls"] = tls
    meta = {"name": name, "namespace": namespace, "annotations": dict(annotations or {})}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def rule(host, service_name, path="/", port=80):
    return {"host": host, "http": {"paths": [{
        "path": path, "pathType": "ImplementationSpecific",
        "backend": {"service": {"name": service_name, "port": {"number": port}}}}]}}


def as_sent_by_apiserver(obj):
    """Adds what a real object carries on CREATE: last-applied, managedFields, uid, labels."""
    obj = json.loads(json.dumps(obj))
    meta = obj["metadata"]
    applied = json.dumps(obj, separators=(",", ":"), sort_keys=True)
    meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = applied + "\n"
    meta["labels"] = {"app.kubernetes.io/name": meta["name"], "app.kubernetes.io/part-of": "bench"}
    meta["uid"] = "6b1f8c0e-2d4a-4f63-9a57-0c5b8e9d1a01"
    meta["creationTimestamp"] = "2026-11-24T20:00:00Z"
    meta["generation"] = 1
    fields = {f"f:{k}": {} for k in meta["annotations"]}
    meta["managedFields"] = [{
        "manager": "kubectl-client-side-apply", "operation": "Update",
        "apiVersion": "networking.k8s.io/v1", "time": "2026-11-24T20:00:00Z", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, **fields},
                                    "f:labels": {".": {}, "f:app.kubernetes.io/name": {},
                                                 "f:app.kubernetes.io/part-of": {}}},
                     "f:spec": {"f:rules": {}, "f:tls": {}}},
    }]
    return obj


def review(obj, uid):
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
            "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "ingresses"},
            "requestKind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
            "requestResource": {"group": "networking.k8s.io", "version": "v1", "resource": "ingresses"},
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"]["namespace"],
            "operation": "CREATE",
            "userInfo": {"username": "alice@example.com", "uid": "u-1",
                         "groups": ["system:authenticated", "dev-team"]},
            "object": obj,
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions", "fieldManager": "kubectl-client-side-apply"},
        },
    }


def write(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, separators=(",", ":"))


def main(out):
    os.makedirs(os.path.join(out, "state-small"), exist_ok=True)
    os.makedirs(os.path.join(out, "state-large"), exist_ok=True)

    base = [service("web"), service("api"), service("internal", svc_type="ClusterIP"),
            secret("web-tls", "TKPmsWb3"), secret("empty-tls", None)]
    base += [service(f"svc-{i}") for i in range(500)]
    write(os.path.join(out, "state-small", "state.json"), {"apiVersion": "v1", "kind": "List", "items": base})

    large = list(base)
    for i in range(10_000):
        ns = f"team-{i % 200}"
        large.append(service(f"app-{i}", namespace=ns))
        large.append(ingress(f"ing-{i}", [rule(f"app-{i}.team-{i % 200}.example.com", f"app-{i}")],
                             namespace=ns,
                             annotations={"kubernetes.io/ingress.class": "qcloud",
                                          "kubernetes.io/ingress.qcloud-loadbalance-id": f"lb-{i:08x}"}))
    for i in range(2_000):
        large.append(secret(f"tls-{i}", f"C{i:07d}", namespace=f"team-{i % 200}"))
    write(os.path.join(out, "state-large", "state.json"), {"apiVersion": "v1", "kind": "List", "items": large})

    allowed = ingress(
        "shop", [rule("www.shop.example.com", "web"), rule("api.shop.example.com", "api", path="/v1")],
        tls=[{"hosts": ["www.shop.example.com", "api.shop.example.com"], "secretName": "web-tls"}],
        annotations={"kubernetes.io/ingress.class": "qcloud",
                     "kubernetes.io/ingress.rule-mix": "true",
                     "kubernetes.io/ingress.http-rules":
                         '[{"host":"www.shop.example.com","path":"/","backend":{"serviceName":"web","servicePort":"80"}}]',
                     "kubernetes.io/ingress.https-rules":
                         '[{"host":"api.shop.example.com","path":"/v1","backend":{"serviceName":"api","servicePort":"80"}}]'})
    denied = ingress(
        "broken", [rule("shop", "internal"), rule("www.shop.example.com", "web", path="/api/*"),
                   rule("img.shop.example.com", "missing")],
        tls=[{"hosts": ["www.shop.example.com"], "secretName": "empty-tls"}],
        annotations={"kubernetes.io/ingress.class": "qcloud",
                     "kubernetes.io/ingress.http-rules": '[{"host":"www.shop.example.com","path":"/",}]'})
    write(os.path.join(out, "review-allowed.json"), review(as_sent_by_apiserver(allowed), "bench-allowed"))
    write(os.path.join(out, "review-denied.json"), review(as_sent_by_apiserver(denied), "bench-denied"))

    for n in (1, 50, 500):
        rules = [rule(f"h{i}.shop.example.com", f"svc-{i % 500}", path=f"/p{i}") for i in range(n)]
        write(os.path.join(out, f"review-rules-{n}.json"),
              review(as_sent_by_apiserver(ingress(f"rules-{n}", rules)), f"bench-rules-{n}"))

    write(os.path.join(out, "static-response.json"), {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "response": {"uid": "bench-allowed", "allowed": True, "warnings": []}})

    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        if os.path.isfile(path):
            print(f"  {name}: {os.path.getsize(path)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
