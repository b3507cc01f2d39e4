#!/usr/bin/env bash
# Scale benchmark: the real binary (release build) with 100,000 Services, 100,000 qcloud
# Ingresses and 20,000 Secrets, offline (one `kubectl get -o json` List file) and live against
# the STAND-IN API server (a test double in tests/stand_in_apiserver/, run by the ignored tests
# of tests/scale.rs), then the same at 10,000+10,000+2,000.
#
#   scripts/bench-scale.sh                  # every run below, ~25 minutes after the build
#   SCALE_ONLY=live-100k scripts/bench-scale.sh   # one run: offline-100k, live-100k,
#                                           # live-100k-audit, offline-10k, live-10k-audit,
#                                           # live-10k-default
#   SCALE_WRK=5s scripts/bench-scale.sh     # wrk duration per scenario (default 10s; empty: no wrk)
#   SCALE_TEST_EXE=... SCALE_BIN=... scripts/bench-scale.sh   # a harness and a binary built
#                                           # before (no build: another build's figures)
#
# Prints the harness's `scale:` lines (figures only; nothing is asserted on time). The webhook is
# pinned to CPU 0 (one tokio worker, as in scripts/bench.sh); the harness (the stand-in, on a
# thread of its own, and the client that times reviews) and wrk to CPU 1, so the webhook has its
# CPU to itself, as on a node (SCALE_HARNESS_CPU= leaves the harness unpinned). Peak RSS is the
# webhook's VmHWM, reset between phases (sync, audit pass, re-list) through /proc/PID/clear_refs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  echo "== installing wrk" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 scripts/bench/make_inputs.py "$work" 2>/dev/null
export SCALE_INPUTS=$work SCALE_PIN=1 SCALE_WRK=${SCALE_WRK-10s}
SCALE_HARNESS_CPU=${SCALE_HARNESS_CPU-1}

if [ -z "${SCALE_TEST_EXE:-}" ]; then
  echo "== cargo test --release --no-run (tests/scale.rs and the binary)" >&2
  SCALE_TEST_EXE=$(cargo test --release --locked --test scale --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "scale" and m.get("executable"):
        print(m["executable"])')
fi
# The harness runs the binary its build names (CARGO_BIN_EXE), or SCALE_BIN.

# run NAME TEST [VAR=VALUE...]: one ignored test of tests/scale.rs with these settings.
run() {
  local name=$1 test=$2
  shift 2
  if [ -n "${SCALE_ONLY:-}" ] && [ "$SCALE_ONLY" != "$name" ]; then return 0; fi
  echo "== $name: $*" >&2
  env "$@" ${SCALE_HARNESS_CPU:+taskset -c "$SCALE_HARNESS_CPU"} "$SCALE_TEST_EXE" --ignored --exact --nocapture "$test" 2>&1 |
    grep '^scale:' | sed "s/^scale: /$name: /"
}

big=(SCALE_SERVICES=100000 SCALE_INGRESSES=100000 SCALE_SECRETS=20000 SCALE_NAMESPACES=1000)
small=(SCALE_SERVICES=10000 SCALE_INGRESSES=10000 SCALE_SECRETS=2000 SCALE_NAMESPACES=200)

run offline-100k scale_offline "${big[@]}"
# Audit off: the confirmation figures (wrk on denied bodies) without the audit's work beside them.
run live-100k scale_live "${big[@]}" SCALE_AUDIT_INTERVAL=0s
# The default flags (audit every 10m at 200 Ingresses/s): the first pass (~9 minutes) is waited
# for, so that its results are held when the re-list comes (the most the audit ever holds); no wrk.
run live-100k-audit scale_live "${big[@]}" SCALE_AUDIT_WAIT=1 SCALE_WRK=
run offline-10k scale_offline "${small[@]}" SCALE_WRK=
# The audit pass cost at 10k Ingresses: one unthrottled pass, its time and CPU; then one pass at
# the default --audit-rate (200/s), how long it takes.
run live-10k-audit scale_live "${small[@]}" SCALE_AUDIT_RATE=1000000 SCALE_AUDIT_WAIT=1 SCALE_WRK=
run live-10k-default scale_live "${small[@]}" SCALE_AUDIT_WAIT=1 SCALE_WRK=
