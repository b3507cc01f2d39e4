"""Assertions on the rendered Helm chart (run by scripts/chart-test.sh).

Every value set in charts/qcloud-ingress-webhook/ci/ is rendered with `helm template` for
Kubernetes 1.29 (no matchConditions), 1.30 and the newest version kubernetes-validate knows;
every object is validated against the strict JSON schemas of 1.30 and the newest version, and the
tests below check what an operator relies on. The "same certificate on a re-render" test runs
`helm template --dry-run=server` against tests/chart/fake_apiserver.py, so the chart's real
`lookup` branch is exercised, not a test-only value.
"""

import base64
import functools
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import kubernetes_validate
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from fake_apiserver import FakeApiServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "qcloud-ingress-webhook"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
HELM = os.environ.get("HELM", str(ROOT / ".tools" / "bin" / "helm"))
RELEASE = "qiw"
NAMESPACE = "qiw-system"
FULLNAME = "qiw-qcloud-ingress-webhook"
SERVICE_DNS = f"{FULLNAME}.{NAMESPACE}.svc"
SCHEMA_VERSIONS = ["1.30.0", kubernetes_validate.utils.major_minor(kubernetes_validate.latest_version()) + ".0"]
KUBE_VERSIONS = ["1.29.0"] + SCHEMA_VERSIONS
# Custom resources the Kubernetes schemas do not know: the API version each must have.
CRD_KINDS = {
    "Issuer": "cert-manager.io/v1",
    "Certificate": "cert-manager.io/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}
TKE_SAS = [
    "system:serviceaccount:kube-system:l7-lb-controller",
    "system:serviceaccount:kube-system:service-controller",
]


def helm_template(*extra, kube_version="1.30.0", check=True):
    cmd = [HELM, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
           "--kube-version", kube_version, *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return proc


@functools.lru_cache(maxsize=None)
def render(values=None, kube_version="1.30.0", sets=()):
    extra = []
    if values:
        extra += ["-f", str(CHART / "ci" / values)]
    for s in sets:
        extra += ["--set", s]
    out = helm_template(*extra, kube_version=kube_version).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def find(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def one(docs, kind):
    found = find(docs, kind)
    if len(found) != 1:
        raise AssertionError(f"expected one {kind}, found {len(found)}")
    return found[0]


def container(docs):
    return one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def pem_file(directory, name, b64):
    path = Path(directory) / name
    path.write_bytes(base64.b64decode(b64))
    return str(path)


def tls_handshake(crt_b64, key_b64, ca_b64, hostname):
    """A TLS handshake in memory: the server uses crt/key, the client trusts only ca and checks
    hostname. Raises ssl.SSLError unless the pair is a valid serving cert for hostname."""
    with tempfile.TemporaryDirectory() as d:
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(pem_file(d, "tls.crt", crt_b64), pem_file(d, "tls.key", key_b64))
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.load_verify_locations(pem_file(d, "ca.crt", ca_b64))
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(20):
        for name, obj in (("c", c), ("s", s)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("TLS handshake did not finish")


class SchemaValidation(unittest.TestCase):
    def test_every_object_of_every_value_set_validates(self):
        checked = 0
        for values in CI_VALUES:
            for version in SCHEMA_VERSIONS:
                for doc in render(values.name, version):
                    with self.subTest(values=values.name, version=version,
                                      kind=doc["kind"], name=doc["metadata"]["name"]):
                        if doc["kind"] in CRD_KINDS:
                            # Not in the Kubernetes schemas: the fields every custom resource needs
                            # (the tests below and test_monitoring.py check the rest).
                            self.assertEqual(doc["apiVersion"], CRD_KINDS[doc["kind"]])
                            self.assertIsInstance(doc["spec"], dict)
                            continue
                        kubernetes_validate.validate(doc, version, strict=True)
                        checked += 1
        self.assertGreater(checked, 10 * len(CI_VALUES))

    def test_validation_can_fail(self):
        doc = one(render(), "Deployment")
        broken = yaml.safe_load(yaml.safe_dump(doc))
        broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnly"] = True
        with self.assertRaises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, SCHEMA_VERSIONS[0], strict=True)

    def test_all_ci_value_sets_exist(self):
        names = {v.name for v in CI_VALUES}
        for want in ["default-values.yaml", "cert-manager-values.yaml", "external-certs-values.yaml",
                     "warn-values.yaml", "mutating-off-values.yaml", "hpa-values.yaml",
                     "monitoring-values.yaml", "audit-events-values.yaml",
                     "hostile-load-values.yaml", "cloud-values.yaml",
                     "self-managed-values.yaml"]:
            self.assertIn(want, names)


class WebhookConfigurations(unittest.TestCase):
    def test_clients_point_at_the_service_and_the_service_at_the_webhook_port(self):
        docs = render()
        svc = one(docs, "Service")
        self.assertEqual(svc["metadata"]["name"], FULLNAME)
        https = [p for p in svc["spec"]["ports"] if p["name"] == "https"][0]
        self.assertEqual(https["port"], 443)
        ports = {p["name"]: p["containerPort"] for p in container(docs)["ports"]}
        self.assertEqual(https["targetPort"], "webhook")
        self.assertEqual(ports["webhook"], 8443)
        self.assertIn("--listen=0.0.0.0:8443", container(docs)["args"])
        for kind, path in [("ValidatingWebhookConfiguration", "/validate"),
                           ("MutatingWebhookConfiguration", "/mutate")]:
            (hook,) = one(docs, kind)["webhooks"]
            self.assertEqual(hook["clientConfig"]["service"],
                             {"name": FULLNAME, "namespace": NAMESPACE, "path": path, "port": 443})

    def test_validating_webhook_registration(self):
        (hook,) = one(render(), "ValidatingWebhookConfiguration")["webhooks"]
        self.assertEqual(hook["rules"], [{"apiGroups": ["networking.k8s.io"], "apiVersions": ["v1"],
                                          "resources": ["ingresses"],
                                          "operations": ["CREATE", "UPDATE"], "scope": "Namespaced"}])
        self.assertEqual(hook["matchPolicy"], "Equivalent")
        self.assertEqual(hook["sideEffects"], "None")
        self.assertEqual(hook["admissionReviewVersions"], ["v1", "v1beta1"])
        self.assertEqual(hook["failurePolicy"], "Ignore")
        self.assertEqual(hook["timeoutSeconds"], 5)

    def test_failure_policy_and_timeout_come_from_values(self):
        (hook,) = one(render("mutating-off-values.yaml"), "ValidatingWebhookConfiguration")["webhooks"]
        self.assertEqual(hook["failurePolicy"], "Fail")
        self.assertEqual(hook["timeoutSeconds"], 8)

    def test_namespace_selector_leaves_out_kube_system_and_own_namespace(self):
        docs = render()
        for kind in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]:
            (hook,) = one(docs, kind)["webhooks"]
            exprs = hook["namespaceSelector"]["matchExpressions"]
            notin = [e for e in exprs if e["key"] == "kubernetes.io/metadata.name"]
            self.assertEqual(len(notin), 1)
            self.assertEqual(notin[0]["operator"], "NotIn")
            self.assertIn("kube-system", notin[0]["values"])
            self.assertIn(NAMESPACE, notin[0]["values"])

    def test_match_conditions_only_from_1_30(self):
        for version in KUBE_VERSIONS:
            docs = render(None, version)
            for kind in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]:
                (hook,) = one(docs, kind)["webhooks"]
                with self.subTest(version=version, kind=kind):
                    if version.startswith("1.29."):
                        self.assertNotIn("matchConditions", hook)
                        continue
                    (cond,) = hook["matchConditions"]
                    self.assertEqual(cond["name"], "not-tke-controller")
                    expr = cond["expression"]
                    self.assertTrue(expr.startswith("!(request.userInfo.username in ["), expr)
                    for sa in TKE_SAS:
                        self.assertIn(f"'{sa}'", expr)

    def test_mutating_webhook_fails_open_and_is_switchable(self):
        (hook,) = one(render(), "MutatingWebhookConfiguration")["webhooks"]
        self.assertEqual(hook["failurePolicy"], "Ignore")
        self.assertEqual(hook["reinvocationPolicy"], "Never")
        self.assertEqual(hook["sideEffects"], "None")
        self.assertEqual(find(render("mutating-off-values.yaml"), "MutatingWebhookConfiguration"), [])
        self.assertEqual(len(find(render("mutating-off-values.yaml"), "ValidatingWebhookConfiguration")), 1)


class Certificates(unittest.TestCase):
    def test_helm_mode_ca_bundle_is_the_secret_ca_and_the_cert_serves_the_service_name(self):
        docs = render()
        secret = one(docs, "Secret")
        self.assertEqual(secret["metadata"]["name"], f"{FULLNAME}-tls")
        self.assertEqual(secret["type"], "kubernetes.io/tls")
        data = secret["data"]
        for kind in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]:
            (hook,) = one(docs, kind)["webhooks"]
            self.assertTrue(hook["clientConfig"]["caBundle"])
            self.assertEqual(hook["clientConfig"]["caBundle"], data["ca.crt"])
        tls_handshake(data["tls.crt"], data["tls.key"], data["ca.crt"], SERVICE_DNS)
        with self.assertRaises(ssl.SSLCertVerificationError):
            tls_handshake(data["tls.crt"], data["tls.key"], data["ca.crt"], f"other.{NAMESPACE}.svc")
        self.assertEqual(secret["metadata"]["annotations"]["qcloud-ingress-webhook/issued-for"],
                         SERVICE_DNS)

    def _render_against(self, secret):
        with FakeApiServer() as api, tempfile.TemporaryDirectory() as d:
            path = f"/api/v1/namespaces/{NAMESPACE}/secrets/{FULLNAME}-tls"
            api.objects[path] = secret
            kubeconfig = os.path.join(d, "kubeconfig")
            api.kubeconfig(kubeconfig)
            out = helm_template("--dry-run=server", "--disable-openapi-validation",
                                "--kubeconfig", kubeconfig).stdout
            self.assertIn(path, api.requests, "the chart did not look the Secret up")
        return [d for d in yaml.safe_load_all(out) if d]

    def _installed_secret(self):
        """The Secret as `helm install` leaves it in the cluster (with Helm's ownership metadata)."""
        secret = yaml.safe_load(yaml.safe_dump(one(render(), "Secret")))
        secret["metadata"]["annotations"].update({"meta.helm.sh/release-name": RELEASE,
                                                  "meta.helm.sh/release-namespace": NAMESPACE})
        return secret

    def test_re_render_against_an_existing_secret_keeps_the_certificate(self):
        installed = self._installed_secret()
        docs = self._render_against(installed)
        self.assertEqual(one(docs, "Secret")["data"], installed["data"])
        for kind in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]:
            (hook,) = one(docs, kind)["webhooks"]
            self.assertEqual(hook["clientConfig"]["caBundle"], installed["data"]["ca.crt"])

    def test_plain_template_renders_a_new_certificate_each_time(self):
        # lookup finds nothing under plain `helm template`: the reason for the test above.
        first = one(helm_template_docs(), "Secret")["data"]["tls.crt"]
        second = one(helm_template_docs(), "Secret")["data"]["tls.crt"]
        self.assertNotEqual(first, second)

    def test_secret_for_another_service_name_is_not_reused(self):
        installed = self._installed_secret()
        installed["metadata"]["annotations"]["qcloud-ingress-webhook/issued-for"] = "old.qiw-system.svc"
        docs = self._render_against(installed)
        self.assertNotEqual(one(docs, "Secret")["data"]["tls.crt"], installed["data"]["tls.crt"])

    def test_secret_close_to_expiry_is_renewed(self):
        installed = self._installed_secret()
        installed["metadata"]["annotations"]["qcloud-ingress-webhook/not-after"] = "2020-01-01T00:00:00Z"
        docs = self._render_against(installed)
        secret = one(docs, "Secret")
        self.assertNotEqual(secret["data"]["tls.crt"], installed["data"]["tls.crt"])
        (hook,) = one(docs, "ValidatingWebhookConfiguration")["webhooks"]
        self.assertEqual(hook["clientConfig"]["caBundle"], secret["data"]["ca.crt"])

    def test_cert_manager_mode_injects_the_ca_and_renders_no_ca_bundle(self):
        docs = render("cert-manager-values.yaml")
        self.assertEqual(find(docs, "Secret"), [])
        cert = one(docs, "Certificate")
        issuer = one(docs, "Issuer")
        self.assertEqual(cert["spec"]["issuerRef"]["name"], issuer["metadata"]["name"])
        self.assertIn(SERVICE_DNS, cert["spec"]["dnsNames"])
        for kind in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]:
            cfg = one(docs, kind)
            self.assertEqual(cfg["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
                             f"{NAMESPACE}/{cert['metadata']['name']}")
            (hook,) = cfg["webhooks"]
            self.assertNotIn("caBundle", hook["clientConfig"])
        volumes = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
        tls = [v for v in volumes if v["name"] == "tls"][0]
        self.assertEqual(tls["secret"]["secretName"], cert["spec"]["secretName"])

    def test_external_mode_uses_the_users_secret_and_ca(self):
        docs = render("external-certs-values.yaml")
        given = yaml.safe_load((CHART / "ci" / "external-certs-values.yaml").read_text())["certs"]["external"]
        self.assertEqual(find(docs, "Secret"), [])
        self.assertEqual(find(docs, "Certificate"), [])
        (hook,) = one(docs, "ValidatingWebhookConfiguration")["webhooks"]
        self.assertEqual(hook["clientConfig"]["caBundle"], given["caBundle"])
        volumes = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
        self.assertEqual([v for v in volumes if v["name"] == "tls"][0]["secret"]["secretName"],
                         given["secretName"])

    def test_external_mode_without_secret_or_ca_fails_to_render(self):
        proc = helm_template("--set", "certs.mode=external", check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("certs.external.secretName is required", proc.stderr)
        proc = helm_template("--set", "certs.mode=external", "--set", "certs.external.secretName=x",
                             check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("certs.external.caBundle is required", proc.stderr)


class SelfManagedCertificates(unittest.TestCase):
    """certs.mode selfManaged (issue 24): nothing in the output depends on a render, so Argo CD
    and Flux see no drift; the pods own the CA Secret and caBundle."""

    VALUES = "self-managed-values.yaml"

    def _template(self, *extra):
        return helm_template("-f", str(CHART / "ci" / self.VALUES), *extra).stdout

    def test_two_renders_are_byte_identical(self):
        self.assertEqual(self._template(), self._template())
        # The comparison can fail: helm mode renders a new CA each time under `helm template`.
        self.assertNotEqual(helm_template().stdout, helm_template().stdout)

    def test_no_certificate_material_and_no_ca_bundle(self):
        out = self._template()
        for marker in ["BEGIN", "LS0tLS1CRUdJTi", "caBundle:", "tls.crt", "tls.key"]:
            self.assertNotIn(marker, out)
        docs = render(self.VALUES)
        self.assertEqual(find(docs, "Secret"), [])
        self.assertEqual(find(docs, "Certificate"), [])
        for kind in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]:
            (hook,) = one(docs, kind)["webhooks"]
            self.assertEqual(set(hook["clientConfig"]), {"service"})
        pod = one(docs, "Deployment")["spec"]["template"]["spec"]
        self.assertNotIn("tls", [v["name"] for v in pod["volumes"]])
        self.assertNotIn("tls", [m["name"] for m in pod["containers"][0]["volumeMounts"]])

    def test_the_pods_are_told_what_to_manage(self):
        args = container(render(self.VALUES))["args"]
        for want in ["--self-managed-certs", f"--ca-secret={FULLNAME}-ca", f"--namespace={NAMESPACE}",
                     f"--service={FULLNAME}", f"--validating-webhook={FULLNAME}",
                     f"--mutating-webhook={FULLNAME}"]:
            self.assertIn(want, args)
        self.assertFalse([a for a in args if a.startswith("--tls-")], args)
        args = container(render(self.VALUES, sets=("mutating.enabled=false",)))["args"]
        self.assertFalse([a for a in args if a.startswith("--mutating-webhook")], args)
        self.assertNotIn("--self-managed-certs", container(render())["args"])

    def test_rbac_names_the_ca_secret_and_the_two_configurations(self):
        docs = render(self.VALUES)
        (role,) = [r for r in find(docs, "Role") if r["metadata"]["name"] == f"{FULLNAME}-ca"]
        self.assertEqual(len(find(docs, "Role")), 2, "the CA Role and the audit Lease Role")
        self.assertEqual(role["metadata"]["namespace"], NAMESPACE)
        self.assertEqual(role["rules"], [
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [f"{FULLNAME}-ca"],
             "verbs": ["get", "update"]},
            # create cannot be restricted by name (docs/rbac.md).
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        ])
        (binding,) = [b for b in find(docs, "RoleBinding") if b["metadata"]["name"] == f"{FULLNAME}-ca"]
        self.assertEqual(binding["roleRef"]["name"], role["metadata"]["name"])
        rules = find(docs, "ClusterRole", FULLNAME)[0]["rules"]
        webhook_rules = [r for r in rules if r["apiGroups"] == ["admissionregistration.k8s.io"]]
        self.assertEqual(sorted(r["resources"][0] for r in webhook_rules),
                         ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"])
        for rule in webhook_rules:
            self.assertEqual(rule["resourceNames"], [FULLNAME])
            self.assertEqual(rule["verbs"], ["get", "list", "watch", "patch"])
        # Other modes grant none of it.
        default = render()
        self.assertFalse([r for r in find(default, "Role") if r["metadata"]["name"] == f"{FULLNAME}-ca"])
        default_rules = find(default, "ClusterRole", FULLNAME)[0]["rules"]
        self.assertFalse([r for r in default_rules if r["apiGroups"] == ["admissionregistration.k8s.io"]])


def helm_template_docs():
    return [d for d in yaml.safe_load_all(helm_template().stdout) if d]


class Workload(unittest.TestCase):
    def test_args_match_the_binary_flags(self):
        args = container(render())["args"]
        self.assertEqual(args, [
            "serve",
            "--listen=0.0.0.0:8443",
            "--admin-listen=0.0.0.0:8080",
            "--tls-cert=/etc/qcloud-ingress-webhook/tls/tls.crt",
            "--tls-key=/etc/qcloud-ingress-webhook/tls/tls.key",
            "--config=/etc/qcloud-ingress-webhook/config/config.yaml",
            "--log-format=json",
            "--audit-interval=10m",
            "--audit-rate=200",
            "--confirm-budget=1s",
            f"--audit-lease={FULLNAME}-audit",
            f"--audit-lease-namespace={NAMESPACE}",
            "--request-memory-budget=85899345",
        ])
        cli = "".join(p.read_text() for p in sorted((ROOT / "src" / "cli").glob("*.rs")))
        for arg in args[1:]:
            field = arg.split("=")[0][2:].replace("-", "_")
            self.assertRegex(cli, rf"pub {field}:", f"{arg} is not a flag of serve in src/cli/")

    def test_cert_and_config_are_directory_mounts(self):
        docs = render()
        c = container(docs)
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        self.assertEqual(mounts["tls"]["mountPath"], "/etc/qcloud-ingress-webhook/tls")
        self.assertEqual(mounts["config"]["mountPath"], "/etc/qcloud-ingress-webhook/config")
        for m in c["volumeMounts"]:
            self.assertNotIn("subPath", m)
            self.assertTrue(m["readOnly"])

    def test_probes_on_the_admin_port(self):
        c = container(render())
        self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "admin"})
        self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "admin"})
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports["admin"], 8080)
        self.assertIn("--admin-listen=0.0.0.0:8080", c["args"])

    def test_restricted_security_context_and_dockerfile_user(self):
        docs = render()
        pod = one(docs, "Deployment")["spec"]["template"]["spec"]
        sc = container(docs)["securityContext"]
        self.assertIs(sc["runAsNonRoot"], True)
        self.assertIs(sc["readOnlyRootFilesystem"], True)
        self.assertIs(sc["allowPrivilegeEscalation"], False)
        self.assertEqual(sc["capabilities"], {"drop": ["ALL"]})
        self.assertEqual(sc["seccompProfile"], {"type": "RuntimeDefault"})
        self.assertEqual(pod["securityContext"]["seccompProfile"], {"type": "RuntimeDefault"})
        self.assertIs(pod["securityContext"]["runAsNonRoot"], True)
        user = re.findall(r"^USER\s+(\d+)(?::(\d+))?\s*$", (ROOT / "Dockerfile").read_text(), re.M)
        self.assertEqual(len(user), 1, "the Dockerfile needs exactly one numeric USER uid:gid")
        self.assertEqual(int(user[0][0]), sc["runAsUser"])
        self.assertEqual(int(user[0][1]), sc["runAsGroup"])

    def test_dockerfile_matches_the_chart(self):
        dockerfile = (ROOT / "Dockerfile").read_text()
        stages = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
        self.assertGreaterEqual(len(stages), 2, "multi-stage build expected")
        # One recipe with scripts/image.sh: the root is assembled by the same script, from scratch
        # (scripts/image-test.sh checks the rest of the config against the image it builds).
        self.assertEqual(stages[-1], "scratch")
        self.assertIn("scripts/image/build.py rootfs", dockerfile)
        (expose,) = re.findall(r"^EXPOSE\s+(.+)$", dockerfile, re.M)
        ports = {p["name"]: p["containerPort"] for p in container(render())["ports"]}
        self.assertEqual(sorted(int(p) for p in expose.split()), sorted(ports.values()))
        ignored = (ROOT / ".dockerignore").read_text().split()
        for private in ["certs", ".tools", "target", ".git"]:
            self.assertIn(private, ignored)

    def test_resources_grace_period_and_replicas(self):
        docs = render()
        dep = one(docs, "Deployment")
        c = container(docs)
        self.assertIn("requests", c["resources"])
        self.assertIn("limits", c["resources"])
        self.assertEqual(dep["spec"]["replicas"], 2)
        # --shutdown-delay 5s + --shutdown-grace 20s must fit before the kubelet's SIGKILL.
        self.assertGreater(dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 25)
        anti = dep["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        term = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
        self.assertEqual(term["labelSelector"]["matchLabels"], dep["spec"]["selector"]["matchLabels"])

    def test_pdb_never_blocks_a_drain(self):
        docs = render()
        pdb = one(docs, "PodDisruptionBudget")
        self.assertEqual(pdb["spec"]["maxUnavailable"], 1)
        self.assertNotIn("minAvailable", pdb["spec"])
        self.assertEqual(pdb["spec"]["unhealthyPodEvictionPolicy"], "AlwaysAllow")
        self.assertEqual(pdb["spec"]["selector"]["matchLabels"],
                         one(docs, "Deployment")["spec"]["selector"]["matchLabels"])
        self.assertEqual(find(render(None, "1.30.0", ("replicaCount=1",)), "PodDisruptionBudget"), [])

    def test_hpa_replaces_replicas(self):
        docs = render("hpa-values.yaml")
        dep = one(docs, "Deployment")
        self.assertNotIn("replicas", dep["spec"])
        hpa = one(docs, "HorizontalPodAutoscaler")
        self.assertEqual((hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]), (3, 6))
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["name"], dep["metadata"]["name"])
        anti = dep["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        self.assertIn("requiredDuringSchedulingIgnoredDuringExecution", anti)
        self.assertEqual(find(render(), "HorizontalPodAutoscaler"), [])

    def test_service_selects_the_webhook_pods(self):
        docs = render()
        selector = one(docs, "Service")["spec"]["selector"]
        pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(selector)
        self.assertEqual({k: pod_labels.get(k) for k in selector}, selector)

    def test_network_policy_is_optional_and_keeps_the_webhook_port_open(self):
        self.assertEqual(find(render(), "NetworkPolicy"), [])
        docs = render("hpa-values.yaml")
        pol = one(docs, "NetworkPolicy")
        pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
        sel = pol["spec"]["podSelector"]["matchLabels"]
        self.assertEqual({k: pod_labels.get(k) for k in sel}, sel)
        self.assertEqual(pol["spec"]["policyTypes"], ["Ingress"])
        by_port = {r["ports"][0]["port"]: r for r in pol["spec"]["ingress"]}
        self.assertNotIn("from", by_port["webhook"], "the API server must reach the webhook port")
        self.assertEqual(by_port["admin"]["from"], [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "monitoring"}}}])
        ports = {p["name"] for p in container(docs)["ports"]}
        self.assertEqual(set(by_port), ports)

    def test_rbac_is_least_privilege(self):
        docs = render()
        roles = {r["metadata"]["name"]: r for r in find(docs, "ClusterRole")}
        self.assertEqual(set(roles), {FULLNAME, f"{FULLNAME}-audit-reader"})
        role = roles[FULLNAME]
        rules = sorted((tuple(r["apiGroups"]), tuple(r["resources"]), tuple(sorted(r["verbs"])))
                       for r in role["rules"])
        # TokenReview and SubjectAccessReview: who asks for /audit, and whether RBAC lets them.
        self.assertEqual(rules, sorted([
            (("",), ("services",), ("get", "list", "watch")),
            (("networking.k8s.io",), ("ingresses",), ("get", "list", "watch")),
            (("",), ("secrets",), ("get",)),
            (("authentication.k8s.io",), ("tokenreviews",), ("create",)),
            (("authorization.k8s.io",), ("subjectaccessreviews",), ("create",)),
        ]))
        # The reader role is for people and dashboards to be bound to; nothing binds it.
        self.assertEqual(roles[f"{FULLNAME}-audit-reader"]["rules"],
                         [{"nonResourceURLs": ["/audit"], "verbs": ["get"]}])
        # With the audit off there is no /audit to protect: neither the reviews nor the reader.
        off = render(None, "1.30.0", ("audit.interval=0s",))
        self.assertEqual([r["metadata"]["name"] for r in find(off, "ClusterRole")], [FULLNAME])
        self.assertNotIn("tokenreviews", str(one(off, "ClusterRole")["rules"]))
        # The audit Lease: get/update by name, create (cannot be limited by name); only with the
        # audit on, and only in the release namespace.
        (lease_role,) = find(docs, "Role")
        self.assertEqual(lease_role["metadata"], {**lease_role["metadata"], "name": f"{FULLNAME}-audit-lease",
                                                  "namespace": NAMESPACE})
        self.assertEqual(lease_role["rules"], [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "resourceNames": [f"{FULLNAME}-audit"], "verbs": ["get", "update"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        ])
        self.assertEqual(one(docs, "RoleBinding")["roleRef"]["name"], f"{FULLNAME}-audit-lease")
        self.assertEqual(find(off, "Role"), [])
        args = container(docs)["args"]
        self.assertIn(f"--audit-lease={FULLNAME}-audit", args)
        self.assertIn(f"--audit-lease-namespace={NAMESPACE}", args)
        self.assertNotIn(f"--audit-lease={FULLNAME}-audit", container(off)["args"])
        self.assertIn({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                      container(docs)["env"])
        binding = one(docs, "ClusterRoleBinding")
        self.assertEqual(binding["roleRef"]["name"], role["metadata"]["name"])
        sa = one(docs, "ServiceAccount")
        self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                                "namespace": NAMESPACE}])
        self.assertEqual(one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"],
                         sa["metadata"]["name"])

    def test_audit_events_add_event_creation_and_the_flag(self):
        docs = render("audit-events-values.yaml")
        rules = next(r for r in find(docs, "ClusterRole") if r["metadata"]["name"] == FULLNAME)["rules"]
        self.assertIn({"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}, rules)
        args = container(docs)["args"]
        self.assertIn("--audit-events", args)
        self.assertIn("--audit-interval=30m", args)
        self.assertNotIn("--audit-events", container(render())["args"])


class Settings(unittest.TestCase):
    def config(self, values=None):
        docs = render(values)
        cm = one(docs, "ConfigMap")
        self.assertEqual(cm["metadata"]["name"], f"{FULLNAME}-config")
        vols = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
        self.assertEqual([v for v in vols if v["name"] == "config"][0]["configMap"]["name"],
                         cm["metadata"]["name"])
        return yaml.safe_load(cm["data"]["config.yaml"])

    def test_default_enforces_and_exempts_tke_controllers(self):
        cfg = self.config()
        self.assertEqual(cfg["enforcement"], "enforce")
        self.assertEqual(cfg["exempt"]["usernames"], TKE_SAS)
        self.assertEqual(set(cfg), {"enforcement", "exempt"})

    def test_direct_access_by_default_reaches_the_config(self):
        cfg = yaml.safe_load(one(render(sets=("directAccessByDefault=true",)), "ConfigMap")["data"]["config.yaml"])
        self.assertIs(cfg["directAccessByDefault"], True)
        self.assertNotIn("directAccessByDefault", self.config())

    def test_exceptions_reach_the_config_only_when_not_the_default(self):
        self.assertNotIn("exceptions", self.config())
        for value in ("warnOnly", "forbid"):
            cfg = yaml.safe_load(one(render(sets=(f"exceptions={value}",)), "ConfigMap")["data"]["config.yaml"])
            self.assertEqual(cfg["exceptions"], value)

    def test_warn_mode_reaches_the_config(self):
        cfg = self.config("warn-values.yaml")
        self.assertEqual(cfg["enforcement"], "warn")
        self.assertEqual(cfg["rules"], {"host-grammar": "warn"})
        self.assertEqual(cfg["exempt"]["namespaces"], ["legacy-apps"])
        self.assertEqual(cfg["exceptions"], "warnOnly")

    def test_config_change_rolls_the_pods(self):
        a = one(render(), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        b = one(render("warn-values.yaml"), "Deployment")["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"]
        self.assertNotEqual(a, b)


MONITORING = "monitoring-values.yaml"


def dashboard_config_map(docs):
    found = [d for d in find(docs, "ConfigMap") if d["metadata"]["name"] == f"{FULLNAME}-dashboard"]
    return found[0] if found else None


def chart_readme_anchors():
    """GitHub's anchors for the chart README's headings (lower case, spaces to dashes)."""
    headings = re.findall(r"^#+ (.+)$", (CHART / "README.md").read_text(), re.M)
    return {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}


class Monitoring(unittest.TestCase):
    def test_everything_is_off_by_default(self):
        docs = render()
        self.assertEqual(find(docs, "ServiceMonitor"), [])
        self.assertEqual(find(docs, "PrometheusRule"), [])
        self.assertIsNone(dashboard_config_map(docs))

    def test_each_part_switches_on_alone(self):
        for part, kind in [("serviceMonitor", "ServiceMonitor"), ("prometheusRule", "PrometheusRule")]:
            with self.subTest(part=part):
                docs = render(None, "1.30.0", (f"metrics.{part}.enabled=true",))
                self.assertEqual(len(find(docs, kind)), 1)
                self.assertIsNone(dashboard_config_map(docs))
        docs = render(None, "1.30.0", ("metrics.dashboard.enabled=true",))
        self.assertIsNotNone(dashboard_config_map(docs))
        self.assertEqual(find(docs, "ServiceMonitor") + find(docs, "PrometheusRule"), [])

    def test_service_monitor_scrapes_the_admin_port(self):
        docs = render(MONITORING)
        monitor = one(docs, "ServiceMonitor")
        (endpoint,) = monitor["spec"]["endpoints"]
        self.assertEqual((endpoint["path"], endpoint["scheme"]), ("/metrics", "http"))
        svc = one(docs, "Service")
        (port,) = [p for p in svc["spec"]["ports"] if p["name"] == endpoint["port"]]
        self.assertEqual(port["targetPort"], "admin")
        c = container(docs)
        admin = [p for p in c["ports"] if p["name"] == "admin"][0]["containerPort"]
        self.assertIn(f"--admin-listen=0.0.0.0:{admin}", c["args"])
        selector = monitor["spec"]["selector"]["matchLabels"]
        self.assertEqual({k: svc["metadata"]["labels"].get(k) for k in selector}, selector)
        self.assertEqual(monitor["spec"]["namespaceSelector"], {"matchNames": [NAMESPACE]})
        # Our series have their own `endpoint` label; the operator's target label must not win.
        self.assertIn({"action": "labeldrop", "regex": "endpoint"}, endpoint["relabelings"])

    def test_labels_for_prometheus_and_grafana_selectors(self):
        docs = render(MONITORING)
        for kind in ["ServiceMonitor", "PrometheusRule"]:
            labels = one(docs, kind)["metadata"]["labels"]
            with self.subTest(kind=kind):
                self.assertEqual(labels["release"], "kube-prometheus-stack")
                self.assertEqual(labels["app.kubernetes.io/instance"], RELEASE)
        cm = dashboard_config_map(docs)
        self.assertEqual(cm["metadata"]["labels"]["grafana_dashboard"], "1")
        self.assertEqual(cm["metadata"]["annotations"], {"grafana_folder": "Kubernetes"})
        custom = dashboard_config_map(render(MONITORING, "1.30.0", (
            "metrics.dashboard.label=dashboards", "metrics.dashboard.labelValue=qiw")))
        self.assertEqual(custom["metadata"]["labels"]["dashboards"], "qiw")
        self.assertNotIn("grafana_dashboard", custom["metadata"]["labels"])

    def test_chart_labels_win_over_user_labels(self):
        docs = render(MONITORING, "1.30.0", ("metrics.serviceMonitor.labels.app\\.kubernetes\\.io/instance=x",))
        self.assertEqual(one(docs, "ServiceMonitor")["metadata"]["labels"]["app.kubernetes.io/instance"], RELEASE)

    def test_namespace_defaults_to_the_release_and_can_be_moved(self):
        docs = render(MONITORING)
        self.assertEqual(one(docs, "ServiceMonitor")["metadata"]["namespace"], NAMESPACE)
        self.assertEqual(one(docs, "PrometheusRule")["metadata"]["namespace"], NAMESPACE)
        self.assertEqual(dashboard_config_map(docs)["metadata"]["namespace"], NAMESPACE)
        moved = render(MONITORING, "1.30.0", tuple(f"metrics.{p}.namespace=monitoring" for p in
                                                   ["serviceMonitor", "prometheusRule", "dashboard"]))
        monitor = one(moved, "ServiceMonitor")
        self.assertEqual(monitor["metadata"]["namespace"], "monitoring")
        self.assertEqual(monitor["spec"]["namespaceSelector"], {"matchNames": [NAMESPACE]})
        self.assertEqual(one(moved, "PrometheusRule")["metadata"]["namespace"], "monitoring")
        self.assertEqual(dashboard_config_map(moved)["metadata"]["namespace"], "monitoring")
        rules = json.dumps(one(moved, "PrometheusRule")["spec"])
        self.assertIn(f'namespace=\\"{NAMESPACE}\\"', rules, "alerts must still select the webhook's namespace")

    def test_alerts_select_the_service_monitors_job_and_carry_runbooks(self):
        docs = render(MONITORING)
        job = f'job="{one(docs, "Service")["metadata"]["name"]}", namespace="{NAMESPACE}"'
        anchors = chart_readme_anchors()
        base = yaml.safe_load((CHART / "values.yaml").read_text())["metrics"]["prometheusRule"]["runbookUrl"]
        rules = [r for g in one(docs, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
        self.assertGreaterEqual(len(rules), 9)
        for rule in rules:
            with self.subTest(alert=rule["alert"]):
                if "qcloud_ingress_webhook_" in rule["expr"] or "up{" in rule["expr"]:
                    self.assertIn(job, rule["expr"])
                self.assertIn(rule["labels"]["severity"], ["warning", "critical"])
                self.assertEqual(rule["labels"]["team"], "platform")
                self.assertTrue(rule["annotations"]["summary"])
                self.assertTrue(rule["annotations"]["description"])
                anchor = rule["alert"].lower()
                self.assertEqual(rule["annotations"]["runbook_url"], f"{base}#{anchor}")
                self.assertIn(anchor, anchors, f"README.md has no runbook heading for {rule['alert']}")

    def test_latency_threshold_follows_the_webhook_timeouts(self):
        def slow_expr(*sets):
            rules = one(render(MONITORING, "1.30.0", sets), "PrometheusRule")["spec"]["groups"][0]["rules"]
            return [r for r in rules if r["alert"] == "QcloudIngressWebhookSlowReviews"][0]["expr"]
        expr = slow_expr("webhook.timeoutSeconds=10", "mutating.timeoutSeconds=3")
        self.assertRegex(expr, r'endpoint="validate"\}\[5m\]\)\)\) > 0\.8 \* 10$')
        self.assertRegex(expr, r'endpoint="mutate"\}\[5m\]\)\)\) > 0\.8 \* 3\n')
        self.assertNotIn("mutate", slow_expr("mutating.enabled=false"))

    def test_outage_alerts_are_critical_only_when_writes_are_blocked(self):
        outage = {"QcloudIngressWebhookNoReadyReplica", "QcloudIngressWebhookCallsFailing"}
        for policy, severity in [("Ignore", "warning"), ("Fail", "critical")]:
            docs = render(MONITORING, "1.30.0", (f"webhook.failurePolicy={policy}",))
            rules = one(docs, "PrometheusRule")["spec"]["groups"][0]["rules"]
            for rule in rules:
                with self.subTest(policy=policy, alert=rule["alert"]):
                    want = severity if rule["alert"] in outage else "warning"
                    self.assertEqual(rule["labels"]["severity"], want)

    def test_dashboard_is_the_charts_file(self):
        cm = dashboard_config_map(render(MONITORING))
        shipped = json.loads((CHART / "dashboards" / "qcloud-ingress-webhook.json").read_text())
        self.assertEqual(json.loads(cm["data"]["qcloud-ingress-webhook.json"]), shipped)
        self.assertEqual(shipped["uid"], "qcloud-ingress-webhook")
        variables = {v["name"] for v in shipped["templating"]["list"]}
        self.assertEqual(variables, {"datasource", "namespace", "job"})


def notes(*extra):
    """NOTES.txt as `helm install --dry-run=client` prints it (no cluster needed)."""
    cmd = [HELM, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client",
           *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "KUBECONFIG": os.devnull})
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return proc.stdout.split("\nNOTES:\n", 1)[1]


class Notes(unittest.TestCase):
    def test_notes_try_a_broken_ingress_with_a_server_side_dry_run(self):
        text = notes()
        match = re.search(r"^cat <<'YAML' \| kubectl apply --dry-run=server -n (\S+) -f -\n(.*?)^YAML$",
                          text, re.M | re.S)
        self.assertIsNotNone(match, "NOTES must show a copy-pasteable kubectl apply --dry-run=server")
        self.assertNotIn(match.group(1), ["kube-system", NAMESPACE])
        ingress = yaml.safe_load(match.group(2))
        self.assertEqual((ingress["apiVersion"], ingress["kind"]), ("networking.k8s.io/v1", "Ingress"))
        annotations = ingress["metadata"]["annotations"]
        self.assertEqual(annotations["kubernetes.io/ingress.class"], "qcloud")
        with self.assertRaises(ValueError):
            json.loads(annotations["kubernetes.io/ingress.http-rules"])
        self.assertIn("validate.qcloud-ingress-webhook.tke.cloud", text)
        self.assertIn("enforcement:    enforce", text)

    def test_notes_warn_about_the_unpublished_default_image(self):
        self.assertIn("no registry\npublishes", notes())
        self.assertIn("nothing else will tell you", notes())
        pushed = notes("--set", "image.repository=ccr.ccs.tencentyun.com/team/qcloud-ingress-webhook")
        self.assertNotIn("WARNING: image.repository", pushed)

    def test_notes_say_warn_mode_accepts(self):
        self.assertIn("nothing is denied", notes("--set", "enforcement=warn"))
        self.assertNotIn("nothing is denied", notes())


class HostileLoad(unittest.TestCase):
    """The values of docs/threat-model.md: the memory budget and the API server's addresses."""

    def budget_arg(self, *sets):
        args = container(render(None, "1.30.0", tuple(sets)))["args"]
        found = [a for a in args if a.startswith("--request-memory-budget=")]
        return int(found[0].split("=", 1)[1]) if found else None

    def test_request_memory_budget_follows_the_memory_limit(self):
        # 32 % of the 256Mi limit: enough for the largest legal review (tests/review_memory.rs).
        self.assertEqual(self.budget_arg(), int(256 * 1024 * 1024 * 0.32))
        self.assertEqual(self.budget_arg("resources.limits.memory=1Gi"), int(1024 ** 3 * 0.32))
        self.assertEqual(self.budget_arg("resources.limits.memory=500M"), 160_000_000)
        self.assertEqual(self.budget_arg("resources.limits.memory=0.5Gi", "requestMemoryPercent=50"),
                         256 * 1024 * 1024)
        self.assertIsNone(self.budget_arg("requestMemoryPercent=0"))
        self.assertIsNone(self.budget_arg("resources.limits=null"))

    def test_a_client_ca_secret_is_mounted_and_required(self):
        docs = render("hostile-load-values.yaml")
        args = container(docs)["args"]
        self.assertIn("--client-ca=/etc/qcloud-ingress-webhook/client-ca/ca.crt", args)
        pod = one(docs, "Deployment")["spec"]["template"]["spec"]
        volume = next(v for v in pod["volumes"] if v["name"] == "client-ca")
        self.assertEqual(volume["secret"]["secretName"], "apiserver-webhook-client-ca")
        mount = next(m for m in container(docs)["volumeMounts"] if m["name"] == "client-ca")
        self.assertEqual(mount["mountPath"], "/etc/qcloud-ingress-webhook/client-ca")
        self.assertFalse(any(a.startswith("--client-ca") for a in container(render())["args"]))

    def test_the_hostile_load_value_set_renders_both(self):
        docs = render("hostile-load-values.yaml")
        self.assertIn(f"--request-memory-budget={int(1024 ** 3 * 0.3)}", container(docs)["args"])
        by_port = {r["ports"][0]["port"]: r for r in one(docs, "NetworkPolicy")["spec"]["ingress"]}
        self.assertEqual(by_port["webhook"]["from"][0], {"ipBlock": {"cidr": "10.0.0.0/28"}})
        self.assertEqual(len(by_port["webhook"]["from"]), 2)

    def test_an_unreadable_memory_limit_fails_the_render_with_a_reason(self):
        proc = helm_template("--set", "resources.limits.memory=1e9", check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("--request-memory-budget", proc.stderr)

    def test_network_policy_admits_the_api_servers_cidrs_on_the_webhook_port_only(self):
        docs = render(None, "1.30.0", ("networkPolicy.enabled=true",
                                       "networkPolicy.apiServerCIDRs={10.0.0.0/24,192.168.1.7/32}"))
        by_port = {r["ports"][0]["port"]: r for r in one(docs, "NetworkPolicy")["spec"]["ingress"]}
        self.assertEqual(by_port["webhook"]["from"], [{"ipBlock": {"cidr": "10.0.0.0/24"}},
                                                      {"ipBlock": {"cidr": "192.168.1.7/32"}}])
        self.assertEqual(by_port["admin"]["from"], [{"podSelector": {}}])
        # Without addresses or peers the webhook port stays open to the API server, wherever it is.
        docs = render(None, "1.30.0", ("networkPolicy.enabled=true",))
        by_port = {r["ports"][0]["port"]: r for r in one(docs, "NetworkPolicy")["spec"]["ingress"]}
        self.assertNotIn("from", by_port["webhook"])

    def test_bad_hostile_load_values_are_refused(self):
        for bad in ["requestMemoryPercent=95", "requestMemoryPercent=-1",
                    "networkPolicy.apiServerCIDRs={10.0.0.1}"]:
            with self.subTest(bad=bad):
                proc = helm_template("--set", bad, check=False)
                self.assertNotEqual(proc.returncode, 0, f"--set {bad} rendered")


class ValuesSchema(unittest.TestCase):
    def test_bad_values_are_refused(self):
        for bad in ["enforcement=audit", "unknownKey=1", "webhook.failurePolicy=Sometimes",
                    "webhook.timeoutSeconds=31", "certs.mode=vault", "replicaCount=-1",
                    "audit.rate=0", "audit.interval=soon",
                    # Each alert sets its own severity.
                    "metrics.prometheusRule.alertLabels.severity=info"]:
            with self.subTest(bad=bad):
                proc = helm_template("--set", bad, check=False)
                self.assertNotEqual(proc.returncode, 0, f"--set {bad} rendered")

    def test_every_value_is_in_the_schema(self):
        schema = json.loads((CHART / "values.schema.json").read_text())
        values = yaml.safe_load((CHART / "values.yaml").read_text())

        def walk(vals, sch, path):
            self.assertIs(sch.get("additionalProperties"), False, f"{path or '.'} allows unknown keys")
            for key, val in vals.items():
                self.assertIn(key, sch["properties"], f"{path}.{key} is not in values.schema.json")
                sub = sch["properties"][key]
                if isinstance(val, dict) and sub.get("type") == "object" and "properties" in sub:
                    walk(val, sub, f"{path}.{key}")
        walk(values, schema, "")

    def test_every_value_is_in_the_readme_table(self):
        readme = (CHART / "README.md").read_text()
        values = yaml.safe_load((CHART / "values.yaml").read_text())
        opaque = {"resources", "podSecurityContext", "securityContext", "livenessProbe", "readinessProbe"}

        def paths(vals, prefix=""):
            for key, val in vals.items():
                path = f"{prefix}.{key}" if prefix else key
                if isinstance(val, dict) and val and path not in opaque:
                    yield from paths(val, path)
                else:
                    yield path
        for path in paths(values):
            self.assertIn(f"| `{path}` |", readme, f"{path} is missing from the README values table")


if __name__ == "__main__":
    unittest.main()
