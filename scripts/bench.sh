#!/usr/bin/env bash
# `make bench`: builds brisk (release), makes sure the standard data set is seeded, then
# drives its own brisk through PgBouncer with wrk (64 connections, 15 s per run) over the
# workloads W1-W7, a worker sweep (1, 2, 4 workers) on W1 and W3, the stampede experiment
# (200 concurrent cold summary requests) and /health without the metrics middleware.
# Writes target/bench/results.jsonl, target/bench/report.md and SVG plots.
#
# Settings (environment): BENCH_BIN (the brisk binary; default: this tree's release build),
# BENCH_OUT (target/bench), BENCH_DURATION (15s), BENCH_WARMUP (3s), BENCH_CONNECTIONS (64),
# BENCH_THREADS (2), BENCH_PORT (18080), BENCH_WORKERS (nproc), BENCH_SWEEP ("1 2 4"),
# BENCH_LIMIT_ARGS (`brisk serve` flags that raise the plan limits, default
# `--rate-limit-scale 100000`; the limiter stays in the path), BRISK_DIRECT_DATABASE_URL, BRISK_DATABASE_URL, BRISK_REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${BENCH_OUT:-target/bench}
DATA="$OUT/data"
RESULTS="$OUT/results.jsonl"
DURATION=${BENCH_DURATION:-15s}
WARMUP=${BENCH_WARMUP:-3s}
SWEEP=${BENCH_SWEEP:-"1 2 4"}
# A fresh Redis prefix per run: every run starts cold, and never sees another run's keys.
export BRISK_REDIS_PREFIX="bench-$(date +%s)-$$"

# shellcheck source=lib/bench.sh
source scripts/lib/bench.sh

mkdir -p "$OUT" "$DATA"
: >"$RESULTS"

# wrk comes with `make services`, which `make bench` runs first.
command -v wrk >/dev/null || { echo "bench: wrk missing: run make services" >&2; exit 1; }

echo "bench: building (release)" >&2
cargo build --release --quiet --bin brisk --example bench_report
# BENCH_BIN: another build of brisk to measure with the same workloads (e.g. the
# commit before a change, to compare two runs made the same way on the same machine).
BIN=${BENCH_BIN:-target/release/brisk}
REPORT=target/release/examples/bench_report

bench_data "$BIN"
# The stampede's product: tenant 3's, which no workload touches, so it is cold.
STAMPEDE_PRODUCT=$(psql "$DIRECT_URL" -Atc "select id from products where tenant_id = 3 order by id limit 1 offset 41")
trap stop_brisk EXIT

: >"$OUT/wrk.log"; : >"$OUT/brisk.log"
start_brisk "$BIN" "$WORKERS"
"$REPORT" stampede "$BASE" demo-key-3 "$STAMPEDE_PRODUCT" 200 | tee -a "$RESULTS" >&2
for w in "${WORKLOADS[@]}"; do
  run "${w%%|*}" "${w#*|}" "${w%%|*}" "$WORKERS" main
done
curl -fsS "$BASE/metrics" >"$OUT/metrics.txt" || true
stop_brisk

# The middleware's cost: /health without and with it, alternated twice so that drift in
# the machine's load (other processes) falls on both sides alike.
for _ in 1 2; do
  start_brisk "$BIN" "$WORKERS" --metrics-middleware false
  run W7 "GET /health" W7 "$WORKERS" no-middleware
  stop_brisk
  start_brisk "$BIN" "$WORKERS"
  run W7 "GET /health" W7 "$WORKERS" middleware-on
  stop_brisk
done

for n in $SWEEP; do
  start_brisk "$BIN" "$n"
  run W1 "GET /api/catalog" W1 "$n" sweep
  run W3 "GET /api/orders?page=1..20&per_page=50" W3 "$n" sweep
  stop_brisk
done

"$REPORT" report "$RESULTS" "$OUT"
cat "$OUT/report.md"
