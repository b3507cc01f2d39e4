#!/usr/bin/env bash
# Installs promtool into .tools/bin/promtool (git-ignored) and prints its path.
#
# promtool comes from Debian's `prometheus` package (the only registry here that carries it). The
# .deb is fetched with `apt-get download` (apt checks it against the signed archive index) and
# unpacked with `dpkg -x` into .tools/prometheus-deb, so nothing is installed system-wide and the
# Prometheus server in the same package is never started. The pinned version is taken when the
# archive still has it; otherwise the current one, with a warning (the rule tests only need a
# promtool 2.x).
#
# Idempotent: when .tools/bin/promtool already is the pinned build it is left alone.
# Usage: scripts/install-promtool.sh            (prints the absolute path of the promtool binary)
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_VERSION=2.42.0+ds-5+deb12u1

BIN_DIR="$PWD/.tools/bin"
PROMTOOL="$BIN_DIR/promtool"
UNPACKED="$PWD/.tools/prometheus-deb"

# Output captured first: `grep -q` quitting early would fail the pipe under pipefail.
version_of() {
  "$1" --version 2>&1 || true
}

if [[ -x "$PROMTOOL" && "$(version_of "$PROMTOOL")" == *"revision: $DEB_VERSION)"* ]]; then
  echo "$PROMTOOL"
  exit 0
fi

mkdir -p "$BIN_DIR"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

download() {
  # apt's sandbox user cannot write into our private temp dir, so download as ourselves.
  (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$1" >&2)
}

echo "installing promtool from Debian's prometheus=$DEB_VERSION" >&2
# A machine's package index may be missing or older than the archive (whose old versions are
# gone), so a failed download is retried once after apt-get update.
if ! download "prometheus=$DEB_VERSION"; then
  echo "refreshing the package index (apt-get update)" >&2
  apt-get update -q >&2
  if ! download "prometheus=$DEB_VERSION"; then
    echo "warning: prometheus=$DEB_VERSION is no longer in the archive; taking the current version" >&2
    download prometheus
  fi
fi

rm -rf "$UNPACKED"
dpkg -x "$work"/prometheus_*.deb "$UNPACKED"
install -m 0755 "$UNPACKED/usr/bin/promtool" "$PROMTOOL.tmp"
# Only promtool is needed; the server binary and web assets are not kept.
rm -rf "$UNPACKED"

if [[ "$(version_of "$PROMTOOL.tmp")" != "promtool, version "* ]]; then
  rm -f "$PROMTOOL.tmp"
  echo "the unpacked promtool does not run" >&2
  exit 1
fi
mv -f "$PROMTOOL.tmp" "$PROMTOOL"
echo "$PROMTOOL"
