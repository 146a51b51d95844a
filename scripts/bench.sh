#!/usr/bin/env bash
# `make bench`: builds brisk (release), makes sure the standard data set is seeded, then
# drives its own brisk through PgBouncer with wrk (64 connections, 15 s per run), the
# server configured as `make run` starts it (access log on, RUST_LOG as the caller has
# it: info by default), over the parts below, each one a name for BENCH_ONLY/BENCH_SKIP:
#   stampede    200 concurrent cold summary requests (SQL statements and cache outcomes)
#   main        the workloads W1-W7
#   accesslog   W1 and W7 again with `--access-log false` and RUST_LOG=warn
#   middleware  /health without and with the metrics middleware, alternated twice (both
#               with the access log off and RUST_LOG=warn)
#   sweep       1, 2, 4 workers on W1 and W3
#   ceilings    nginx serving W1's, W2's and W5's bytes and /health as static answers
#               (wrk, like brisk), and pgbench running W3's and W4's statements
#   cluster     W1 and W3 through nginx in front of 2 processes of 1 worker against one
#               process of 2 workers direct
#   doctor      W1 and W3 with `brisk doctor --window` during the run: its CPU-ms and
#               DB-ms per request against the server's /proc CPU and pg_stat_statements
#   scale       W1-W7 against the scale-1 database and a second one seeded at scale 5
#               (BENCH_SCALE_DB, default brisk_scale5; seeded once and kept), same server
#               configuration: scale5/scale1 req/s (W1: bytes/s)
#   openloop    p50/p99 of W1-W5 and W7 (not W6's PUT mix) with oha sending at a fixed
#               rate (open loop, latency from the scheduled send) at 50 % and 80 % of the
#               workload's saturation in this run (main's wrk req/s, or a short wrk run)
# Writes target/bench/results.jsonl, target/bench/report.md and SVG plots.
#
# Settings (environment): BENCH_BIN (the brisk binary; default: this tree's release build),
# BENCH_OUT (target/bench), BENCH_DURATION (15s), BENCH_WARMUP (3s), BENCH_CONNECTIONS (64),
# BENCH_THREADS (2), BENCH_PORT (18080; the bench also uses the ports up to BENCH_PORT+30),
# BENCH_WORKERS (nproc), BENCH_SWEEP ("1 2 4"), BENCH_ONLY (the parts to run, e.g.
# "main ceilings"; default all), BENCH_SKIP (parts left out, e.g. "sweep middleware"),
# BENCH_EXTRA_DURATION (10s: the accesslog, ceilings, cluster, scale and openloop runs),
# BENCH_DOCTOR_DURATION (20s), BENCH_SCALE_DB (brisk_scale5), BENCH_OPENLOOP_FRACTIONS
# ("0.5 0.8"), BENCH_OPENLOOP_SAT_DURATION (5s: the short wrk run without main), BENCH_PGBENCH_CLIENTS (16, brisk's pool size),
# BENCH_LIMIT_ARGS (`brisk serve` flags that raise the plan limits, default
# `--rate-limit-scale 100000`; the limiter stays in the path), BRISK_DIRECT_DATABASE_URL,
# BRISK_DATABASE_URL, BRISK_REDIS_URL.
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

# make run's log configuration (Makefile: `brisk serve --workers N`, no RUST_LOG).
SERVER_LOG_FLAGS=""
SERVER_RUST_LOG=info
EXTRA_DURATION=${BENCH_EXTRA_DURATION:-10s}
ROOT=$PWD
log() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

# shellcheck source=lib/bench.sh
source scripts/lib/bench.sh
# shellcheck source=lib/nginx.sh
source scripts/lib/nginx.sh
# shellcheck source=bench/ceilings.sh
source scripts/bench/ceilings.sh
# shellcheck source=bench/cluster-row.sh
source scripts/bench/cluster-row.sh
# shellcheck source=bench/doctor.sh
source scripts/bench/doctor.sh
# shellcheck source=bench/flamegraph.sh
source scripts/bench/flamegraph.sh
# shellcheck source=bench/scale.sh
source scripts/bench/scale.sh
# shellcheck source=bench/openloop.sh
source scripts/bench/openloop.sh

# want PART: true when PART runs (BENCH_ONLY names it, or it is not in BENCH_SKIP).
want() {
  if [[ -n "${BENCH_ONLY:-}" ]]; then
    [[ " $BENCH_ONLY " == *" $1 "* ]]
  else
    [[ " ${BENCH_SKIP:-} " != *" $1 "* ]]
  fi
}

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
stop_all() {
  stop_brisk
  stop_cluster_row
  stop_static_nginx
}
cleanup() {
  stop_all
  # The access log of make run's configuration is ~2 MB a second under load: keep the
  # other lines (warnings, errors) and the count of access lines.
  if [[ -f "$OUT/brisk.log" ]]; then
    grep -v ' brisk::access\]' "$OUT/brisk.log" >"$OUT/brisk.log.kept" || true
    echo "bench: $(grep -c ' brisk::access\]' "$OUT/brisk.log" || true) access lines dropped from this log" >>"$OUT/brisk.log.kept"
    mv "$OUT/brisk.log.kept" "$OUT/brisk.log"
  fi
}
trap cleanup EXIT

: >"$OUT/wrk.log"; : >"$OUT/brisk.log"
if want stampede || want main; then
  start_brisk "$BIN" "$WORKERS"
  if want stampede; then
    "$REPORT" stampede "$BASE" demo-key-3 "$STAMPEDE_PRODUCT" 200 | tee -a "$RESULTS" >&2
  fi
  if want main; then
    for w in "${WORKLOADS[@]}"; do
      run "${w%%|*}" "${w#*|}" "${w%%|*}" "$WORKERS" main
    done
    curl -fsS "$BASE/metrics" >"$OUT/metrics.txt" || true
  fi
  stop_brisk
fi

# make run's configuration against the access log off (and RUST_LOG=warn): W1 and W7.
if want accesslog; then
  start_brisk "$BIN" "$WORKERS"
  RUN_DURATION=$EXTRA_DURATION run W1 "GET /api/catalog" W1 "$WORKERS" log-on
  RUN_DURATION=$EXTRA_DURATION run W7 "GET /health" W7 "$WORKERS" log-on
  stop_brisk
  RUST_LOG=warn start_brisk "$BIN" "$WORKERS" --access-log false
  RUN_DURATION=$EXTRA_DURATION run W1 "GET /api/catalog" W1 "$WORKERS" log-off
  RUN_DURATION=$EXTRA_DURATION run W7 "GET /health" W7 "$WORKERS" log-off
  stop_brisk
fi

# The middleware's cost: /health without and with it, alternated twice so that drift in
# the machine's load (other processes) falls on both sides alike. Both sides without the
# access log and with RUST_LOG=warn (turning the middleware off also turns the access log
# off; the access log's own cost is the accesslog part's).
if want middleware; then
  for _ in 1 2; do
    RUST_LOG=warn start_brisk "$BIN" "$WORKERS" --metrics-middleware false
    run W7 "GET /health" W7 "$WORKERS" no-middleware
    stop_brisk
    RUST_LOG=warn start_brisk "$BIN" "$WORKERS" --access-log false
    run W7 "GET /health" W7 "$WORKERS" middleware-on
    stop_brisk
  done
fi

if want sweep; then
  for n in $SWEEP; do
    start_brisk "$BIN" "$n"
    run W1 "GET /api/catalog" W1 "$n" sweep
    run W3 "GET /api/orders?page=1..20&per_page=50" W3 "$n" sweep
    stop_brisk
  done
fi

# The comparisons: each in a subshell with its own clean-up, so that one that fails
# (nginx not installable, a statement not found) is named, the report is still written
# and `make bench` then fails.
FAILED_PARTS=""
part() {
  local name=$1; shift
  want "$name" || return 0
  local rc
  # (errexit would be off inside a subshell whose status `if` tests: run it plainly)
  set +e
  (set -e; trap stop_all EXIT; "$@")
  rc=$?
  set -e
  if ((rc != 0)); then
    log "part $name failed (see above); its section of the report is missing or partial"
    FAILED_PARTS="$FAILED_PARTS $name"
  fi
}
part ceilings ceilings "$BIN"
part cluster cluster_row "$BIN"
part doctor doctor_check "$BIN"
part flamegraph flamegraph "$BIN"
part scale scale "$BIN"
part openloop openloop "$BIN"

"$REPORT" report "$RESULTS" "$OUT"
if want flamegraph && [[ -s "$OUT/flame-W1.svg" ]]; then
  printf '\nFlame graph of W1 (a run of its own, not a measured one): `flame-W1.svg` beside this file.\n' >>"$OUT/report.md"
fi
cat "$OUT/report.md"
[[ -z "$FAILED_PARTS" ]] || die "parts failed:$FAILED_PARTS"
