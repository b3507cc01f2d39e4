#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests.
# This is the command the README gives and the one CI (.ci/run) runs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== tools (pinned helm and kubectl in .tools/bin, used by chart, CLI and kubectl tests)"
HELM="$(bash scripts/install-helm.sh)"
KUBECTL="$(bash scripts/install-kubectl.sh)"
export HELM KUBECTL PATH="$PWD/.tools/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== fuzz/Cargo.lock in step with the crate (cargo fuzz builds it --locked)"
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null

echo "== cargo deny (licences, bans, sources; deny.toml)"
"$(bash scripts/install-cargo-deny.sh)" --locked check licenses bans sources

echo "== chart (helm lint, schema validation, assertions, promtool on alerts and dashboard)"
bash scripts/chart-test.sh

echo "== image (scripts/image-test.sh: built twice to one digest, run from its unpacked layers)"
bash scripts/image-test.sh

# Other suites (chart, ...) go above this line: the test runner's summary must be the last
# thing printed, because CI reads the closing line to count the tests that ran.
echo "== tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo test --locked --doc
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked
fi
