"""The chart's monitoring kit checked with the real promtool (run by scripts/chart-test.sh).

- `promtool check rules` on the PrometheusRule that `helm template` renders;
- `promtool test rules` with tests/chart/prometheus-rule-tests.yaml: input series that make each
  alert fire and ones that must keep it silent; a mutation per alert shows the silent cases are
  not vacuous (each breaks a threshold or matcher and must make the tests fail);
- every query of the Grafana dashboard, and of its variables, parsed by promtool as a recording rule.

tests/monitoring.rs checks that every metric name these use is one /metrics really serves.
"""

import copy
import json
import os
import re
import subprocess
import tempfile
import unittest
from pathlib import Path

import yaml

from test_chart import ROOT, one, render

PROMTOOL = os.environ.get("PROMTOOL", str(ROOT / ".tools" / "bin" / "promtool"))
RULE_TESTS = Path(__file__).parent / "prometheus-rule-tests.yaml"
MONITORING = "monitoring-values.yaml"

# (alert, text in its expr, replacement): each must make `promtool test rules` fail.
MUTATIONS = [
    ("QcloudIngressWebhookNoReadyReplica", "< 1", "< 2"),
    ("QcloudIngressWebhookDown", ") < 1", ") < 2"),
    ("QcloudIngressWebhookCallsFailing", ">= 3", ">= 1"),
    ("QcloudIngressWebhookCallsFailing", 'error_type="calling_webhook_error"', 'error_type=~".+"'),
    ("QcloudIngressWebhookRejectingRequests", ">= 3", ">= 1"),
    ("QcloudIngressWebhookSlowReviews", "0.8 * 5", "0.1 * 5"),
    ("QcloudIngressWebhookCacheNotSynced", "== 0", ">= 0"),
    ("QcloudIngressWebhookWatchFailing", "> 5", "> 0"),
    ("QcloudIngressWebhookCertificateExpiresSoon", "14 * 24", "40 * 24"),
    ("QcloudIngressWebhookCertificateExpiresSoon", "> 0)", ">= 0)"),
    ("QcloudIngressWebhookCAExpiresSoon", "30 * 24", "90 * 24"),
    ("QcloudIngressWebhookCAExpiresSoon", "> 0)", ">= 0)"),
    ("QcloudIngressWebhookCABundleOverwritten", "[30m])) > 3", "[30m])) > 0"),
    ("QcloudIngressWebhookDenyBurst", ">= 10", ">= 1"),
    ("QcloudIngressWebhookDenyBurst", "> 4 *", "> 0.5 *"),
]


def promtool(*args, cwd=None):
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=cwd)


def rule_groups(values=MONITORING, sets=()):
    """The rendered PrometheusRule's spec, which is a Prometheus rule file as it stands (a copy:
    render() is cached and tests edit what they get)."""
    return copy.deepcopy(one(render(values, "1.30.0", sets), "PrometheusRule")["spec"])


def alerts(groups):
    return [r for g in groups["groups"] for r in g["rules"] if "alert" in r]


def dashboard():
    cm = [d for d in render(MONITORING) if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]
    return json.loads(cm[0]["data"]["qcloud-ingress-webhook.json"])


def dashboard_queries(board):
    """(name, PromQL) of every panel target and variable query, Grafana's variables filled in."""
    queries = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            queries.append((f"panel {panel['id']} {target['refId']}", target["expr"]))
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"]["query"])
            if not match:
                raise AssertionError(f"variable {var['name']}: not label_values(<selector>, <label>)")
            queries.append((f"variable {var['name']}", match.group(1)))
    return [(name, grafana_to_promql(expr)) for name, expr in queries]


def grafana_to_promql(expr):
    """Grafana's range variables become a duration, the others a label value."""
    expr = re.sub(r"\$(__rate_interval|__interval|__range)\b", "5m", expr)
    return re.sub(r"\$\{?(\w+)\}?", "placeholder", expr)


class PromtoolFixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        proc = promtool("--version")
        if proc.returncode != 0:
            raise AssertionError(f"{PROMTOOL} does not run; scripts/install-promtool.sh installs it")

    def check_rules(self, groups):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "rules.yaml"
            path.write_text(yaml.safe_dump(groups))
            return promtool("check", "rules", str(path))

    def run_rule_tests(self, groups):
        """`promtool test rules` of prometheus-rule-tests.yaml against `groups`."""
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "rules.yaml").write_text(yaml.safe_dump(groups))
            (Path(d) / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
            return promtool("test", "rules", RULE_TESTS.name, cwd=d)


class PrometheusRules(PromtoolFixture):
    def test_rendered_rules_pass_promtool_check(self):
        groups = rule_groups()
        proc = self.check_rules(groups)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn(f"SUCCESS: {len(alerts(groups))} rules found", proc.stdout)

    def test_promtool_check_refuses_a_broken_expression(self):
        groups = rule_groups()
        alerts(groups)[0]["expr"] = "sum by (job) (rate(x[5m]) >"
        self.assertNotEqual(self.check_rules(groups).returncode, 0)

    def test_alert_unit_tests_pass(self):
        proc = self.run_rule_tests(rule_groups())
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("SUCCESS", proc.stdout)

    def test_every_alert_has_a_firing_and_a_silent_case(self):
        cases = [c for t in yaml.safe_load(RULE_TESTS.read_text())["tests"] for c in t.get("alert_rule_test", [])]
        for alert in alerts(rule_groups()):
            name = alert["alert"]
            with self.subTest(alert=name):
                mine = [c for c in cases if c["alertname"] == name]
                self.assertTrue(any(c["exp_alerts"] for c in mine), f"no case makes {name} fire")
                self.assertTrue(any(not c["exp_alerts"] for c in mine), f"no case keeps {name} silent")

    def test_each_mutated_alert_fails_the_unit_tests(self):
        for alert_name, old, new in MUTATIONS:
            with self.subTest(alert=alert_name, mutation=f"{old} -> {new}"):
                groups = rule_groups()
                (alert,) = [a for a in alerts(groups) if a["alert"] == alert_name]
                self.assertIn(old, alert["expr"])
                alert["expr"] = alert["expr"].replace(old, new)
                proc = self.run_rule_tests(groups)
                self.assertNotEqual(proc.returncode, 0, f"the tests still pass with {old!r} -> {new!r}")


class DashboardQueries(PromtoolFixture):
    def recording_rules(self, queries):
        return {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]}]}

    def test_every_query_parses(self):
        queries = dashboard_queries(dashboard())
        self.assertGreater(len(queries), 20)
        proc = self.check_rules(self.recording_rules(queries))
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn(f"SUCCESS: {len(queries)} rules found", proc.stdout)

    def test_a_broken_query_fails(self):
        queries = dashboard_queries(dashboard())
        queries[0] = ("broken", queries[0][1] + ")")
        self.assertNotEqual(self.check_rules(self.recording_rules(queries)).returncode, 0)

    def test_every_panel_has_a_query_and_a_description(self):
        for panel in dashboard()["panels"]:
            if panel["type"] == "row":
                continue
            with self.subTest(panel=panel["title"]):
                self.assertTrue(panel["targets"])
                self.assertTrue(panel["description"])
                self.assertEqual(panel["datasource"], {"type": "prometheus", "uid": "${datasource}"})


if __name__ == "__main__":
    unittest.main()
