#!/usr/bin/env bash
# The image test: builds the image twice with scripts/image.sh (same digest, same bytes), checks
# the size budget, the SBOM and that the image agrees with the Dockerfile and the chart, unpacks
# the OCI archive's layers without a daemon and runs the entrypoint from the unpacked root the way
# a kubelet with the chart's securityContext would: uid/gid 65532, the root read-only, an empty
# writable /tmp, the serving certificate mounted, loopback only. /readyz must answer, a review must
# be answered over TLS, and --version must name the commit. Then, to show the runner sees nothing
# but the image, it runs --version again in a copy of the root without libgcc_s.so.1 and expects
# the loader to fail.
#
# Needs root (mount namespaces, chroot); called by scripts/test.sh, CI runs it on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "$(id -u)" != 0 ]]; then
  echo "image-test: needs root (unshare -m, mount, chroot)" >&2
  exit 1
fi

work="$(mktemp -d)"
server=""
registry=""
cleanup() {
  if [[ -n "$server" ]]; then
    kill "$(cat "$work/contained.pid" 2>/dev/null)" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  if [[ -n "$registry" ]]; then kill "$registry" 2>/dev/null || true; wait "$registry" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

pass=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

export QIW_IMAGE_SOURCE="https://git.example.com/platform/qcloud-ingress-webhook"
echo "== build the image twice"
QIW_IMAGE_OUT="$work/a" bash scripts/image.sh >"$work/a.out"
QIW_IMAGE_OUT="$work/b" bash scripts/image.sh >"$work/b.out"
read -r archive digest size <"$work/a.out"
read -r archive_b digest_b _ <"$work/b.out"
[[ "$digest" == sha256:* && "$digest" == "$digest_b" ]] || fail "two builds gave $digest and $digest_b"
cmp -s "$archive" "$archive_b" || fail "two builds gave different archives"
cmp -s "${archive%.oci.tar}.cdx.json" "${archive_b%.oci.tar}.cdx.json" || fail "two builds gave different SBOMs"
ok "two builds give the same image $digest and the same SBOM"
((size <= 15000000)) || fail "the archive is $size bytes, over 15 MB"
ok "the archive is $size bytes (budget 15,000,000)"

echo "== push it as the README says, with skopeo, to a stand-in for TCR on loopback"
# The stand-in is Debian's docker-registry (CNCF distribution, the registry API TCR serves) on
# 127.0.0.1 without TLS; the push is the README's skopeo copy. The registry must keep our manifest
# as it is: the digest it reports is the one the chart would pin with image.digest.
if ! command -v skopeo >/dev/null 2>&1 || ! command -v docker-registry >/dev/null 2>&1; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends skopeo docker-registry >/dev/null
fi
registry_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: "127.0.0.1:%s"}\n' \
  "$work/registry" "$registry_port" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry=$!
pushed="127.0.0.1:$registry_port/team/qcloud-ingress-webhook:${archive##*webhook-}"
pushed="${pushed%.oci.tar}"
python3 - "$registry_port" <<'WAIT'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v2/", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
WAIT
skopeo copy -q --dest-tls-verify=false "oci-archive:$archive" "docker://$pushed" ||
  fail "skopeo copy to the stand-in registry failed: $(tail -3 "$work/registry.log")"
remote="$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$pushed")"
[[ "$remote" == "$digest" ]] || fail "the registry holds $remote, the archive $digest"
ok "skopeo pushed it to a registry on loopback as $pushed@$remote"
kill "$registry"
wait "$registry" 2>/dev/null || true
registry=""

binary=target/release/qcloud-ingress-webhook
if grep -qF "$PWD" "$binary"; then fail "the binary holds the checkout's path $PWD: a clone elsewhere builds another image"; fi
ok "the binary holds no path of the checkout"

commit="$(git rev-parse HEAD)"
git diff --quiet HEAD -- || commit="$commit-dirty"

echo "== unpack the layers without a daemon, check the image against the Dockerfile and the chart"
root="$work/root"
python3 scripts/image/check.py "$archive" "$root" --commit "$commit" >"$work/entrypoint.json"
ok "blobs match their digests, layers unpacked into $root; config, Dockerfile, chart and SBOM agree"

echo "== run the entrypoint from the unpacked root as 65532, read-only root, empty /tmp, loopback"
certs="$work/certs"
"$binary" dev-certs --out "$certs" >/dev/null 2>&1
mkdir -p "$work/state"
cp examples/cluster-state/*.yaml "$work/state/"
chmod -R a+rX "$certs" "$work/state"
chmod 0644 "$certs/tls.key"
read -r port admin <<<"$(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')"
field() { python3 -c 'import json, sys; v = json.load(sys.stdin)[sys.argv[1]]; print(*(v if isinstance(v, list) else [v]), sep="\n")' "$1" <"$work/entrypoint.json"; }
mapfile -t entrypoint < <(field entrypoint)
mapfile -t cmd < <(field cmd)
mapfile -t env < <(field env)
user="$(field user)"
[[ "$user" == 65532:65532 ]] || fail "the image runs as $user, the chart as 65532:65532"

# In a private mount namespace: the root bind-mounted read-only, /tmp an empty tmpfs, /proc and
# /dev as a runtime provides them, the certificate at the path the image's CMD names, the
# cluster state beside it. The mount points are created first, as runc does.
chroot="$(command -v chroot)"
contain() {
  local root="$1"
  shift
  mkdir -p "$root/etc/qcloud-ingress-webhook/tls" "$root/etc/qcloud-ingress-webhook/state" "$root/proc" "$root/dev"
  unshare -m --propagation private -- sh -ec '
    root="$1"; certs="$2"; state="$3"; pidfile="$4"; shift 4
    echo $$ >"$pidfile" # this shell execs, through env and chroot, into the binary
    mount --bind "$root" "$root"
    mount --bind "$certs" "$root/etc/qcloud-ingress-webhook/tls"
    mount --bind "$state" "$root/etc/qcloud-ingress-webhook/state"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount -o remount,bind,ro "$root"
    mount -t tmpfs -o mode=1777,size=16m tmpfs "$root/tmp"
    exec env -i "$@"
  ' contain "$root" "$certs" "$work/state" "$work/contained.pid" "${env[@]}" "$chroot" --userspec=65532:65532 "$root" "$@"
}

contain "$root" "${entrypoint[@]}" --version >"$work/version" 2>&1 || { cat "$work/version" >&2; fail "--version failed"; }
grep -qx "qcloud-ingress-webhook [0-9.]* (commit $commit)" "$work/version" ||
  fail "--version said '$(cat "$work/version")', not commit $commit"
ok "--version from the image names the commit: $(cat "$work/version")"

# The image's ENTRYPOINT and CMD (the certificate paths), plus what the chart would add.
contain "$root" "${entrypoint[@]}" "${cmd[@]}" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
  --cluster-state /etc/qcloud-ingress-webhook/state --shutdown-delay 0s \
  --log-format json >"$work/serve.log" 2>&1 &
server=$!
python3 scripts/image/probe.py --port "$port" --admin "$admin" --ca "$certs/ca.crt" --pid "$server" \
  --review examples/reviews/mistake-clusterip-backend.json --log "$work/serve.log" ||
  fail "the server in the image did not answer (log above)"
ok "/readyz answered 200 and a review was denied over TLS on loopback"
pid="$(cat "$work/contained.pid")"
ids="$(awk '/^Uid:|^Gid:/ {print $1, $2, $3, $4, $5}' "/proc/$pid/status" | tr '\n' ' ')"
[[ "$ids" == "Uid: 65532 65532 65532 65532 Gid: 65532 65532 65532 65532 " ]] || fail "the server ran with $ids"
# mountinfo: mount point is field 5, its options field 6; the filesystem type follows " - ".
mounts="$(awk '$5 == "/" || $5 == "/tmp" {split($0, tail, " - "); split(tail[2], fs, " "); print $5, $6, fs[1]}' "/proc/$pid/mountinfo")"
grep -qE '^/ ro(,| )' <<<"$mounts" || fail "the root was not read-only: $mounts"
grep -qE '^/tmp rw.* tmpfs$' <<<"$mounts" || fail "/tmp was not a writable tmpfs: $mounts"
ok "the server ran as uid/gid 65532 with / read-only and /tmp a tmpfs ($(tr '\n' ';' <<<"$mounts"))"
kill -TERM "$(cat "$work/contained.pid")"
wait "$server" || fail "the server exited $? on SIGTERM"
server=""
ok "the server exited 0 on SIGTERM"

echo "== the runner sees only the image: without libgcc_s.so.1 the binary cannot start"
broken="$work/broken"
cp -a "$root" "$broken"
umount_free="$(find "$broken" -name 'libgcc_s.so.1*' -print -delete)"
[[ -n "$umount_free" ]] || fail "the image has no libgcc_s.so.1 to remove"
if contain "$broken" "${entrypoint[@]}" --version >"$work/broken.out" 2>&1; then
  fail "--version ran without libgcc_s.so.1: the test is not running the image's own libraries"
fi
grep -q "libgcc_s.so.1" "$work/broken.out" || fail "unexpected failure: $(cat "$work/broken.out")"
ok "without libgcc_s.so.1: $(head -c 200 "$work/broken.out")"

echo "image-test: $pass passed, 0 failed"
