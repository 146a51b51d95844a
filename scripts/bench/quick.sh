#!/usr/bin/env bash
# scripts/bench/quick.sh BIN "W1 W7" [serve flags...]: a quick look at one build, for
# development (make bench and bench-compare are the measurements of record): one server
# (make run's log configuration unless LOGFLAGS/SRL say otherwise, e.g.
# LOGFLAGS="--access-log false" SRL=warn), WARM (3s) of warm-up and DUR (10s) of wrk -t2
# -c64 per workload; prints req/s, p50, p99 and the server's CPU µs per request.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$1; WL=$2; shift 2
OUT=${OUT:-target/quick}; DATA=$OUT/data; RESULTS=$OUT/results.jsonl
DURATION=${DUR:-10s}; WARMUP=${WARM:-3s}
mkdir -p "$OUT" "$DATA"; : >"$RESULTS"
export BRISK_REDIS_PREFIX="quick-$(date +%s)-$$"
SERVER_LOG_FLAGS=${LOGFLAGS-""}; SERVER_RUST_LOG=${SRL:-info}
BENCH_PORT=${BENCH_PORT:-18180}
# shellcheck source=../lib/bench.sh
source scripts/lib/bench.sh
[[ -s $DATA/products.txt ]] || bench_data "$BIN"
: >"$OUT/brisk.log"
start_brisk "$BIN" "$WORKERS" "$@"
trap stop_brisk EXIT
for w in $WL; do
  run "$w" "$w" "$w" "$WORKERS" quick >/dev/null 2>&1
  python3 -c '
import json,sys
l=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print("%s req/s=%.0f p50=%.2f p99=%.2f cpu_us/req=%.1f non2xx=%d" % (l["name"], l["rps"], l["p50_ms"], l["p99_ms"], l["server_cpu_s"]*1e6/l["requests"], l["non_2xx_3xx"]))
' "$RESULTS"
done
