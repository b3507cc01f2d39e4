#!/usr/bin/env bash
# Builds the container image without a container daemon, reproducibly:
#   bash scripts/image.sh            # -> target/image/qcloud-ingress-webhook-<version>.oci.tar
# It builds the release binary (with the commit in --version), assembles the runtime root from
# Debian's own packages (the libraries the binary links, their copyright files, the CA bundle, the
# non-root user 65532), and writes an OCI archive, its digest and a CycloneDX SBOM beside it
# (scripts/image/build.py, scripts/image/sbom.py). The same commit gives the same digest. The
# Dockerfile builds the same layout with the same script, for those who build with Docker.
#
# Push the archive with skopeo (README "Install it in a cluster"), e.g. to TCR:
#   skopeo copy oci-archive:target/image/qcloud-ingress-webhook-0.1.0.oci.tar \
#     docker://ccr.ccs.tencentyun.com/<namespace>/qcloud-ingress-webhook:0.1.0
#
# Environment: QIW_IMAGE_OUT (default target/image), QIW_IMAGE_SOURCE (the
# org.opencontainers.image.source label: where the source is hosted; left out when unset),
# QIW_GIT_COMMIT and SOURCE_DATE_EPOCH (only used without git, e.g. from a source tarball).
# Needs Debian (apt-get, dpkg) and python3 >= 3.11; installs binutils/python3 when missing (root).
set -euo pipefail
cd "$(dirname "$0")/.."

out="${QIW_IMAGE_OUT:-target/image}"
debs="${QIW_IMAGE_DEBS:-target/image-debs}"

missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v ldd >/dev/null 2>&1 || missing+=(libc-bin)
if ((${#missing[@]})); then
  echo "== installing ${missing[*]}" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
python3 -c 'import sys, tomllib; sys.exit(sys.version_info < (3, 11))' ||
  { echo "image: python3 >= 3.11 is needed (tomllib)" >&2; exit 1; }

# The commit and its time: --version names the commit, the image's timestamps are its time.
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
  commit="$(git rev-parse HEAD)"
  git diff --quiet HEAD -- 2>/dev/null || commit="$commit-dirty"
  mtime="$(git log -1 --format=%ct HEAD)"
else
  commit="${QIW_GIT_COMMIT:-unknown}"
  mtime="${SOURCE_DATE_EPOCH:-0}"
fi
version="$(cargo metadata --locked --no-deps --format-version 1 |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["packages"][0]["version"])')"

echo "== cargo build --release (commit $commit)" >&2
# No path of the checkout ends up in the release binary (cargo gives rustc this crate's sources as
# relative paths; scripts/image-test.sh checks), so two clones build the same binary. Crates from
# the registry appear under cargo's home (panic locations): the same on machines whose CARGO_HOME
# is the same. No RUSTFLAGS of our own: the release build stays the one everyone else uses.
QIW_GIT_COMMIT="$commit" cargo build --release --locked --bin qcloud-ingress-webhook
binary=target/release/qcloud-ingress-webhook

echo "== image (runtime root from Debian packages, OCI archive, SBOM)" >&2
python3 scripts/image/build.py oci --binary "$binary" --out "$out" --debs "$debs" \
  --version "$version" --commit "$commit" --mtime "$mtime" --source "${QIW_IMAGE_SOURCE:-}"
