#!/usr/bin/env bash
# Chart tests: helm lint --strict with every ci/*.yaml value set, then tests/chart/test_*.py:
# test_chart.py renders every value set with `helm template`, validates every object against the
# Kubernetes JSON schemas of 1.30 and the newest release kubernetes-validate ships, and asserts on
# the rendered objects; test_monitoring.py runs promtool on the PrometheusRule (check and unit
# tests) and on every dashboard query. Tools are pinned and installed into .tools/ (git-ignored)
# on first run.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM="$(bash scripts/install-helm.sh)"
PROMTOOL="$(bash scripts/install-promtool.sh)"
export HELM PROMTOOL
CHART=charts/qcloud-ingress-webhook

venv=.tools/chart-venv
stamp="$venv/.requirements.sha256"
want="$(sha256sum tests/chart/requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "installing chart test tools into $venv" >&2
  rm -rf "$venv"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r tests/chart/requirements.txt
  echo "$want" >"$stamp"
fi

echo "== helm lint --strict"
for values in "$CHART"/ci/*.yaml; do
  "$HELM" lint --strict "$CHART" --namespace qiw-system -f "$values" >/dev/null \
    || { "$HELM" lint --strict "$CHART" --namespace qiw-system -f "$values"; exit 1; }
  echo "ok   $values"
done

echo "== chart render, schema validation and assertions"
"$venv/bin/python" -m unittest discover --start-directory tests/chart --pattern 'test_*.py' "$@"
