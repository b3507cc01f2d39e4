#!/usr/bin/env bash
# Fuzzes AdmissionReview decoding and rule evaluation (fuzz/fuzz_targets/review.rs) on stable Rust.
# Installs cargo-fuzz into .tools/ (git-ignored) on first use. RUSTC_BOOTSTRAP=1 lets stable rustc
# take the -Z flags cargo-fuzz passes. Usage: scripts/fuzz.sh [SECONDS] (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if [ ! -x .tools/bin/cargo-fuzz ]; then
  cargo install cargo-fuzz --locked --root .tools
fi
export PATH="$PWD/.tools/bin:$PATH"
RUSTC_BOOTSTRAP=1 cargo fuzz run review --sanitizer none -- \
  -max_total_time="$seconds" -rss_limit_mb=4096
