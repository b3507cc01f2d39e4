#!/usr/bin/env bash
# The RustSec advisory check for a release, against a local copy of the advisory database.
#
#   scripts/advisories.sh PATH
#
# PATH is a git clone (or bare mirror) of https://github.com/rustsec/advisory-db, brought in
# however your network allows (`git clone` where GitHub is reachable, a mirror, a USB stick).
# CI cannot fetch the database, so it runs `cargo deny check licenses bans sources` only; this
# script is the fourth check, run before tagging a release. It never touches the network: the
# database is cloned from PATH into a temporary directory and cargo-deny runs `--offline`.
#
# Exit status: cargo-deny's (0 when no advisory applies to Cargo.lock); 2 on a usage error.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -ne 1 || ! -d "$1" ]]; then
  echo "usage: scripts/advisories.sh PATH-TO-ADVISORY-DB-CLONE" >&2
  exit 2
fi
source_db="$(cd "$1" && pwd)"
deny="$(bash scripts/install-cargo-deny.sh)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# cargo-deny keeps each database under db-path in a directory named after its URL; this is the
# name it derives for the default RustSec URL (cargo-deny 0.20). If a newer cargo-deny names it
# differently, its error says which directory it looked for.
git clone --quiet "$source_db" "$work/dbs/advisory-db-3157b0e258782691"
newest="$(git -C "$work/dbs/advisory-db-3157b0e258782691" log -1 --format=%cs)"
echo "advisory database: $source_db, newest advisory commit $newest"

# deny.toml as committed, plus where the database is.
{
  cat deny.toml
  printf '\n[advisories]\ndb-path = "%s"\n' "$work/dbs"
} >"$work/deny.toml"

exec "$deny" --locked --offline --config "$work/deny.toml" check advisories
