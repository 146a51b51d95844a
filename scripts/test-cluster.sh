#!/usr/bin/env bash
# The cluster tests (`make test-cluster`): tests/cluster starts brisk processes (the
# release binary) and an nginx of its own per test, on free ports. nginx and chromium
# (the live page's browser test) are installed here if missing. Tests run one at a
# time: each starts its own processes and they share PostgreSQL's connection budget.
#   scripts/test-cluster.sh               # every test, the processes on the one Redis
#   scripts/test-cluster.sh reload        # tests whose name contains "reload"
#   REDIS=cluster scripts/test-cluster.sh # every test again with the processes on the
#                                         # local Redis Cluster (scripts/redis-cluster.sh),
#                                         # the master-failover test included (.ci/run
#                                         # runs both forms)
# CONTRACT=1 (`make contract-cluster`) runs API.md's contract through nginx instead:
# schemathesis against 2 processes behind nginx (SCHEMATHESIS_PROCS=2
# scripts/schemathesis.sh; its output in target/schemathesis-cluster/), the operations
# endpoints left out (private listener); .ci/run calls it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "test-cluster: $*"; }
die() { echo "test-cluster: $*" >&2; exit 1; }
# shellcheck source=lib/nginx.sh
source "$ROOT/scripts/lib/nginx.sh"
ensure_nginx
scripts/ensure-chromium.sh
# The failover test kills a Redis Cluster master: it runs on the cluster only.
FAILOVER=a_redis_cluster_master_killed
if [ "${REDIS:-}" = cluster ]; then
    scripts/redis-cluster.sh start
    # Whatever a failed test left behind, the next suites find six healthy nodes.
    trap 'scripts/redis-cluster.sh heal || true' EXIT
    BRISK_TEST_REDIS_CLUSTER="$(scripts/redis-cluster.sh seeds)"
    export BRISK_TEST_REDIS_CLUSTER
    log "brisk processes on the Redis Cluster $BRISK_TEST_REDIS_CLUSTER"
    cargo test --release --test cluster -- --ignored --test-threads=1 "$@"
else
    unset BRISK_TEST_REDIS_CLUSTER
    if [ "${CONTRACT:-}" = 1 ]; then
        log "the contract through nginx: schemathesis against 2 processes"
        SCHEMATHESIS_PROCS=2 scripts/schemathesis.sh
        exit 0
    fi
    cargo test --release --test cluster -- --ignored --test-threads=1 --skip "$FAILOVER" "$@"
fi
