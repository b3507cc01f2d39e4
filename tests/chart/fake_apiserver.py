"""A tiny read-only stand-in for kube-apiserver, enough for `helm template --dry-run=server`.

Helm's `lookup` returns nothing under plain `helm template`, so the "reuse the existing Secret"
branch of the chart can only be exercised against an API server. This one answers discovery for
the kinds the chart renders, serves the objects it is given (GET by name), answers 404 for other
names and empty lists for list calls, and records every request path so a test can check that the
lookup really happened. It refuses writes.
"""

import http.server
import json
import threading

CORE = [
    ("secrets", "Secret"),
    ("configmaps", "ConfigMap"),
    ("serviceaccounts", "ServiceAccount"),
    ("services", "Service"),
    ("namespaces", "Namespace"),
]
GROUPS = {
    "apps/v1": [("deployments", "Deployment", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "rbac.authorization.k8s.io/v1": [
        ("clusterroles", "ClusterRole", False),
        ("clusterrolebindings", "ClusterRoleBinding", False),
        ("roles", "Role", True),
        ("rolebindings", "RoleBinding", True),
    ],
    "admissionregistration.k8s.io/v1": [
        ("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False),
        ("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False),
    ],
    "cert-manager.io/v1": [
        ("issuers", "Issuer", True),
        ("certificates", "Certificate", True),
    ],
}
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]


def _resource(name, kind, namespaced):
    return {"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
            "verbs": VERBS}


class FakeApiServer:
    """Serves on 127.0.0.1 on a free port; `objects` maps an API path to the object served there."""

    def __init__(self, git_version="v1.31.0"):
        self.objects = {}
        self.requests = []
        major, minor = git_version.lstrip("v").split(".")[:2]
        self.version = {"major": major, "minor": minor, "gitVersion": git_version,
                        "platform": "linux/amd64"}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = self.path.split("?")[0]
                server.requests.append(path)
                body = server.answer(path)
                if body is None:
                    self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                     "reason": "NotFound", "code": 404})
                else:
                    self._send(200, body)

            def _refuse(self):
                server.requests.append(self.command + " " + self.path)
                self._send(405, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                 "reason": "MethodNotAllowed", "code": 405})

            do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def answer(self, path):
        if path == "/version":
            return self.version
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            groups = {}
            for gv in GROUPS:
                group, version = gv.split("/")
                groups.setdefault(group, []).append({"groupVersion": gv, "version": version})
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": v, "preferredVersion": v[0]} for g, v in groups.items()]}
        if path == "/api/v1":
            return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                _resource(n, k, n != "namespaces") for n, k in CORE]}
        for gv, resources in GROUPS.items():
            if path == "/apis/" + gv:
                return {"kind": "APIResourceList", "groupVersion": gv,
                        "resources": [_resource(*r) for r in resources]}
        if path in self.objects:
            return self.objects[path]
        if not path.startswith(("/api/", "/apis/")):
            return None
        # A collection (even segment count after the version) is a list; anything else is absent.
        parts = path.strip("/").split("/")
        base = 2 if parts[0] == "api" else 3
        if (len(parts) - base) % 2 == 1:
            return {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": []}
        return None

    def kubeconfig(self, path):
        with open(path, "w") as f:
            f.write(
                "apiVersion: v1\nkind: Config\n"
                "clusters: [{name: fake, cluster: {server: '%s'}}]\n"
                "users: [{name: fake, user: {token: fake}}]\n"
                "contexts: [{name: fake, context: {cluster: fake, user: fake}}]\n"
                "current-context: fake\n" % self.url)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
