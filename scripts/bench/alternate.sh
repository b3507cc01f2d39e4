#!/usr/bin/env bash
# Two webhook builds alternated under the same load, in the same minutes: the before/after of a
# change on a machine whose speed moves between runs (scripts/bench.sh measures each server
# minutes apart). Small cluster state, webhook on CPU 0, `wrk -t1 -c16` on CPU 1.
#
#   scripts/bench/alternate.sh BIN_A BIN_B [rounds=3] [seconds=6]
#   BODIES="allowed rules-500" scripts/bench/alternate.sh ...   # other bodies of make_inputs.py
#
# Prints req/s, p99 and the server's CPU time per review for each run (A, B, A, B, ...).
# Needs wrk (scripts/bench.sh installs it).
set -euo pipefail
a=$1 b=$2 rounds=${3:-3} secs=${4:-6}
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
python3 scripts/bench/make_inputs.py "$work" 2>/dev/null
"$a" dev-certs --out "$work/certs" --service bench --namespace bench >/dev/null
run() { # bin body
  taskset -c 0 "$1" serve --listen 127.0.0.1:18643 --admin-listen 127.0.0.1:18280 \
    --tls-cert "$work/certs/tls.crt" --tls-key "$work/certs/tls.key" \
    --cluster-state "$work/state-small" --log-format json >"$work/webhook.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18280/readyz 2>/dev/null)" = 200 ] && break
    sleep 0.1
  done
  local t0; t0=$(awk '{print $14+$15}' /proc/$pid/stat)
  BODY_FILE=$work/review-$2.json taskset -c 1 wrk -t1 -c16 -d"${secs}s" --latency -s scripts/bench/post.lua \
    https://127.0.0.1:18643/validate >"$work/wrk.txt"
  local t1; t1=$(awk '{print $14+$15}' /proc/$pid/stat)
  kill $pid; wait $pid 2>/dev/null || true
  local rps; rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  local p99; p99=$(awk '$1=="99%" {print $2}' "$work/wrk.txt")
  local total; total=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  python3 -c "print(f'{\"$3\":<6} {\"$2\":<8} {float(\"$rps\"):>9.0f} req/s  p99 $p99  cpu {($t1-$t0)*1e4/$total:.1f} us/req')"
}
for r in $(seq 1 "$rounds"); do
  for body in ${BODIES:-allowed denied}; do
    run "$a" "$body" A
    run "$b" "$body" B
  done
done
