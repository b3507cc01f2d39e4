#!/usr/bin/env bash
# Where a review's time goes: `perf record` (software cpu-clock samples, which work in a VM
# without hardware counters) on the release webhook while wrk loads it as scripts/bench.sh does
# (webhook on CPU 0, wrk on CPU 1, small state), then the hottest symbols.
#
#   scripts/bench/profile.sh [allowed|denied|rules-500] [seconds]
#   PROFILE_BIN=/path/to/qcloud-ingress-webhook scripts/bench/profile.sh denied
#   PROFILE_CALL_GRAPH=dwarf scripts/bench/profile.sh allowed 5   # inclusive shares (--children)
#   PROFILE_STAT=1 scripts/bench/profile.sh allowed               # system calls, context switches
#                                           # and page faults per review (perf stat), no profile
#
# Installs linux-perf and wrk from Debian's packages when missing. Leaves perf.data and the
# report in the printed directory.
set -euo pipefail
cd "$(dirname "$0")/../.."

body=${1:-allowed}
seconds=${2:-10}
command -v perf >/dev/null || {
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
}
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null

if [ -n "${PROFILE_BIN:-}" ]; then
  bin=$PROFILE_BIN
else
  cargo build --release --locked --quiet --bin qcloud-ingress-webhook
  target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  bin=$target_dir/release/qcloud-ingress-webhook
fi

work=$(mktemp -d)
python3 scripts/bench/make_inputs.py "$work" 2>/dev/null
"$bin" dev-certs --out "$work/certs" --service bench --namespace bench >/dev/null
taskset -c 0 "$bin" serve --listen 127.0.0.1:18543 --admin-listen 127.0.0.1:18180 \
  --tls-cert "$work/certs/tls.crt" --tls-key "$work/certs/tls.key" \
  --cluster-state "$work/state-small" --log-format json >"$work/webhook.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18180/readyz 2>/dev/null)" = 200 ] && break
  sleep 0.1
done

BODY_FILE=$work/review-$body.json taskset -c 1 wrk -t1 -c16 -d"$((seconds + 2))s" -s scripts/bench/post.lua \
  https://127.0.0.1:18543/validate >"$work/wrk.txt" &
wrk_pid=$!
sleep 1
if [ -n "${PROFILE_STAT:-}" ]; then
  # Tracepoints need tracefs; mounting it is harmless where it already is.
  mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
  reviews() { curl -s http://127.0.0.1:18180/metrics | awk '/^qcloud_ingress_webhook_reviews_total/ {n += $2} END {print n}'; }
  reviews_before=$(reviews)
  perf stat -x, -e raw_syscalls:sys_enter,context-switches,page-faults,task-clock -p "$pid" \
    -o "$work/stat.txt" -- sleep "$seconds"
  reviews_after=$(reviews)
  wait "$wrk_pid"
  python3 - "$work/stat.txt" $((reviews_after - reviews_before)) <<'PY'
import sys
reviews = int(sys.argv[2])
print(f"{reviews} reviews")
for line in open(sys.argv[1]):
    fields = line.strip().split(",")
    if len(fields) > 2 and fields[0].replace(".", "", 1).isdigit():
        value, event = float(fields[0]), fields[2]
        if event == "task-clock":  # milliseconds
            print(f"cpu per review: {value * 1000 / reviews:.1f} us")
        else:
            print(f"{event} per review: {value / reviews:.2f}")
PY
  exit 0
fi
if [ "${PROFILE_CALL_GRAPH:-}" = dwarf ]; then
  perf record -q -e cpu-clock -F 1000 --call-graph dwarf,16384 -p "$pid" -o "$work/perf.data" -- sleep "$seconds" 2>/dev/null
  sort=(--children -g none)
else
  perf record -q -e cpu-clock -F 2000 -g -p "$pid" -o "$work/perf.data" -- sleep "$seconds" 2>/dev/null
  sort=(--no-children)
fi
wait "$wrk_pid"
grep -E 'Requests/sec' "$work/wrk.txt"
perf report -i "$work/perf.data" "${sort[@]}" --sort symbol --stdio 2>/dev/null |
  grep -E "^ +[0-9]" | cut -c1-150 | sed "s/ *$//" | head -60 | tee "$work/report.txt"
echo "perf.data and report in $work" >&2
