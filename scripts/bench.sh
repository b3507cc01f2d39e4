#!/usr/bin/env bash
# Load benchmark: the webhook (offline mode, release build) against three baselines with the same
# certificate: nginx answering a fixed AdmissionReview (static TLS); a bare tokio-rustls + hyper
# server that reads each body and answers the same fixed AdmissionReview (examples/bench_bare.rs:
# what TLS, HTTP and the runtime cost on the webhook's own stack); and kube-rs's
# admission_controller example, its handler on that same stack (examples/bench_kube_rs.rs: a
# generic kube-rs webhook, allowed review only, since it denies nothing of ours). All are loaded
# by wrk over HTTP/1.1 keep-alive on loopback with the same connections and duration.
#
#   scripts/bench.sh                 # full run, ~3 minutes after the build
#   BENCH_DURATION=5s scripts/bench.sh
#   BENCH_BIN=/path/to/qcloud-ingress-webhook scripts/bench.sh   # another build, same scenarios
#   BENCH_BARE_WORK_US="20 35" scripts/bench.sh   # also the bare server spinning 20, 35 µs a request
#
# Installs wrk and nginx from Debian's packages when missing. Servers are pinned to CPU 0 and wrk
# to CPU 1 (2-core machine), so each side gets one core. Prints req/s, p50 and p99 per scenario,
# the server's CPU time per request (user + system, from /proc/<pid>/stat: on a machine shared
# with other jobs it moves far less than req/s), the ratios against both baselines, and the
# webhook's peak RSS with 10k+10k+2k objects cached.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${BENCH_DURATION:-10s}
connections=${BENCH_CONNECTIONS:-16}
port_webhook=18443
port_admin=18080
port_nginx=19443
port_bare=19444
port_kube=19445

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

echo "== cargo build --release (the webhook and the Rust baselines)" >&2
cargo build --release --locked --quiet --bin qcloud-ingress-webhook --example bench_bare --example bench_kube_rs
# Ask cargo where it built: a config or wrapper may move the target dir from $CARGO_TARGET_DIR.
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bare_bin=$target_dir/release/examples/bench_bare
kube_bin=$target_dir/release/examples/bench_kube_rs
if [ -n "${BENCH_BIN:-}" ]; then
  bin=$BENCH_BIN
  echo "== using $bin" >&2
else
  bin=$target_dir/release/qcloud-ingress-webhook
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

python3 scripts/bench/make_inputs.py "$work" 2>/dev/null
"$bin" dev-certs --out "$work/certs" --service bench --namespace bench >/dev/null

# --- static baseline ---------------------------------------------------------------------------
mkdir -p "$work/nginx"
response=$(cat "$work/static-response.json")
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
user root;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  client_max_body_size 8m;
  client_body_buffer_size 1m;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$port_nginx ssl;
    ssl_certificate $work/certs/tls.crt;
    ssl_certificate_key $work/certs/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      default_type application/json;
      return 200 '$response';
    }
  }
}
EOF
taskset -c 0 "$nginx_bin" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
pids+=("$nginx_pid")

wait_for() { # url
  for _ in $(seq 1 200); do
    if curl -sk -o /dev/null --max-time 1 "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "gave up waiting for $1" >&2
  return 1
}

# cpu_ticks PID -> user + system clock ticks of PID and its children (nginx's worker)
cpu_ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}

# run_wrk NAME URL BODY SERVER_PID -> appends a result line to $work/results
run_wrk() {
  local name=$1 url=$2 body=$3 server=$4 out="$work/wrk-$1.txt" before after
  before=$(cpu_ticks "$server")
  BODY_FILE=$body taskset -c 1 wrk -t1 -c"$connections" -d"$duration" --latency -s scripts/bench/post.lua "$url" >"$out"
  after=$(cpu_ticks "$server")
  python3 scripts/bench/parse_wrk.py "$name" "$out" $((after - before)) "$(getconf CLK_TCK)" >>"$work/results"
}

start_webhook() { # state-dir
  # Pinned from exec (taskset -p after the start would miss threads already spawned), so tokio
  # sees one CPU and runs one worker, as nginx runs one worker process.
  taskset -c 0 "$bin" serve --listen 127.0.0.1:$port_webhook --admin-listen 127.0.0.1:$port_admin \
    --tls-cert "$work/certs/tls.crt" --tls-key "$work/certs/tls.key" \
    --cluster-state "$1" --log-format json >"$work/webhook.log" 2>&1 &
  webhook_pid=$!
  pids+=("$webhook_pid")
  for _ in $(seq 1 300); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port_admin/readyz" 2>/dev/null)" = 200 ]; then
      return 0
    fi
    sleep 0.1
  done
  echo "webhook never became ready; log:" >&2
  tail -20 "$work/webhook.log" >&2
  return 1
}
stop_webhook() {
  kill "$webhook_pid" && wait "$webhook_pid" 2>/dev/null || true
}

: >"$work/results"
wait_for "https://127.0.0.1:$port_nginx/"
echo "== baseline: nginx static TLS" >&2
run_wrk static-allowed "https://127.0.0.1:$port_nginx/validate" "$work/review-allowed.json" "$nginx_pid"
run_wrk static-denied "https://127.0.0.1:$port_nginx/validate" "$work/review-denied.json" "$nginx_pid"

echo "== baseline: bare tokio-rustls + hyper" >&2
start_bare() { # spin-us-per-request
  # Pinned from exec like the webhook: one CPU, so one tokio worker.
  taskset -c 0 env BARE_WORK_US="$1" "$bare_bin" 127.0.0.1:$port_bare "$work/certs/tls.crt" \
    "$work/certs/tls.key" "$work/static-response.json" &
  bare_pid=$!
  pids+=("$bare_pid")
  wait_for "https://127.0.0.1:$port_bare/"
}
start_bare 0
run_wrk bare-allowed "https://127.0.0.1:$port_bare/validate" "$work/review-allowed.json" "$bare_pid"
run_wrk bare-denied "https://127.0.0.1:$port_bare/validate" "$work/review-denied.json" "$bare_pid"
for n in 50 500; do # what carrying the large bodies costs, to take out of the per-rule figure
  run_wrk "bare-rules-$n" "https://127.0.0.1:$port_bare/validate" "$work/review-rules-$n.json" "$bare_pid"
done
kill "$bare_pid" && wait "$bare_pid" 2>/dev/null || true
# BENCH_BARE_WORK_US="20 35": the bare server again, spinning that long per request (a handler of
# that cost), to see what the kernel's share does as user space grows.
for us in ${BENCH_BARE_WORK_US:-}; do
  start_bare "$us"
  run_wrk "bare-work-$us-allowed" "https://127.0.0.1:$port_bare/validate" "$work/review-allowed.json" "$bare_pid"
  kill "$bare_pid" && wait "$bare_pid" 2>/dev/null || true
done

echo "== baseline: kube-rs admission_controller example on the same stack" >&2
# Pinned from exec like the others. RUST_LOG unset, as the example runs by default: its
# tracing_subscriber::fmt::init() then keeps errors only.
taskset -c 0 env -u RUST_LOG "$kube_bin" 127.0.0.1:$port_kube "$work/certs/tls.crt" "$work/certs/tls.key" &
kube_pid=$!
pids+=("$kube_pid")
wait_for "https://127.0.0.1:$port_kube/"
# Its answer to our body must be a 200 with a well-formed, allowed AdmissionReview for our uid
# (it adds its label by a JSON patch), or its req/s would not be a review's.
curl -sk --max-time 5 -H 'Content-Type: application/json' --data-binary "@$work/review-allowed.json" \
  -o "$work/kube-rs-answer.json" -w '%{http_code}' "https://127.0.0.1:$port_kube/mutate" >"$work/kube-rs-status"
python3 - "$work/kube-rs-status" "$work/kube-rs-answer.json" <<'PY'
import json, sys
status = open(sys.argv[1]).read().strip()
review = json.load(open(sys.argv[2]))
response = review.get("response") or {}
ok = (status == "200" and review.get("apiVersion") == "admission.k8s.io/v1"
      and review.get("kind") == "AdmissionReview" and response.get("uid") == "bench-allowed"
      and response.get("allowed") is True)
if not ok:
    sys.exit(f"kube-rs baseline: unexpected answer (HTTP {status}): {json.dumps(review)[:300]}")
PY
run_wrk kube-rs-allowed "https://127.0.0.1:$port_kube/mutate" "$work/review-allowed.json" "$kube_pid"
kill "$kube_pid" && wait "$kube_pid" 2>/dev/null || true

echo "== webhook, small cluster state" >&2
start_webhook "$work/state-small"
run_wrk small-allowed "https://127.0.0.1:$port_webhook/validate" "$work/review-allowed.json" "$webhook_pid"
run_wrk small-denied "https://127.0.0.1:$port_webhook/validate" "$work/review-denied.json" "$webhook_pid"
stop_webhook

echo "== webhook, 10k Services + 10k Ingresses + 2k Secrets" >&2
start_webhook "$work/state-large"
run_wrk large-allowed "https://127.0.0.1:$port_webhook/validate" "$work/review-allowed.json" "$webhook_pid"
run_wrk large-denied "https://127.0.0.1:$port_webhook/validate" "$work/review-denied.json" "$webhook_pid"
for n in 1 50 500; do
  run_wrk "large-rules-$n" "https://127.0.0.1:$port_webhook/validate" "$work/review-rules-$n.json" "$webhook_pid"
done
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$webhook_pid/status")
stop_webhook

python3 scripts/bench/report.py "$work/results" "$rss_kib" "$connections" "$duration"
