#!/usr/bin/env bash
# scripts/bench/syscalls.sh BIN W: system calls per request of one build under workload W
# (strace -c -f on the server for 4 s of wrk -t1 -c16, after a 2 s warm-up). Under strace
# every call is slow, so the requests answered measure latency, not throughput.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$1; W=$2
OUT=target/syscalls; DATA=$OUT/data; mkdir -p "$DATA"
export BRISK_REDIS_PREFIX="sys-$(date +%s)-$$"
SERVER_LOG_FLAGS=""; SERVER_RUST_LOG=info; BENCH_PORT=${BENCH_PORT:-18480}
# shellcheck source=../lib/bench.sh
source scripts/lib/bench.sh
[[ -s $DATA/products.txt ]] || bench_data "$BIN"
: >"$OUT/brisk.log"
start_brisk "$BIN" "$WORKERS"
trap stop_brisk EXIT
export BENCH_MODE=$W BENCH_DATA=$DATA
wrk -t1 -c16 -d2s -s scripts/bench/workload.lua "$BASE" >/dev/null
strace -c -f -p "$PID" -o "$OUT/strace.txt" 2>/dev/null & S=$!
sleep 0.5
wrk -t1 -c16 -d4s -s scripts/bench/workload.lua "$BASE" >"$OUT/wrk.txt"
kill -INT $S; wait $S || true
n=$(grep -oP '^\s+\K\d+(?= requests in)' "$OUT/wrk.txt")
echo "$(basename "$BIN") $W: $n requests"
awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF>=5 {printf "  %-16s %8.2f per request\n", $NF, $4/n}' "$OUT/strace.txt" | sort -k2 -nr | head -8
