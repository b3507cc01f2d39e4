#!/usr/bin/env bash
# Runs the webhook locally on the embedded default: creates a dev CA and serving certificate under
# certs/ on first run (kept afterwards), and serves the example cluster state in
# examples/cluster-state on https://127.0.0.1:8443 (admin on http://127.0.0.1:8080).
# Extra arguments go to `serve`, e.g. `scripts/dev-run.sh --log-format json`.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/qcloud-ingress-webhook"

"$bin" dev-certs --out certs --keep-existing
exec "$bin" serve \
  --listen "${QIW_LISTEN:-127.0.0.1:8443}" \
  --admin-listen "${QIW_ADMIN_LISTEN:-127.0.0.1:8080}" \
  --tls-cert certs/tls.crt \
  --tls-key certs/tls.key \
  --cluster-state examples/cluster-state \
  --shutdown-delay 0s \
  "$@"
