#!/usr/bin/env bash
# The cluster tests (`make test-cluster`): tests/cluster starts brisk processes (the
# release binary) and an nginx of its own per test, on free ports. nginx is installed
# here if missing. Tests run one at a time: each starts its own processes and they
# share PostgreSQL's connection budget.
#   scripts/test-cluster.sh               # every test
#   scripts/test-cluster.sh reload        # tests whose name contains "reload"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "test-cluster: $*"; }
die() { echo "test-cluster: $*" >&2; exit 1; }
# shellcheck source=lib/nginx.sh
source "$ROOT/scripts/lib/nginx.sh"
ensure_nginx
cargo test --release --test cluster -- --ignored --test-threads=1 "$@"
