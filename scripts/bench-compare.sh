#!/usr/bin/env bash
# `make bench-compare BEFORE=<git revision>`: W1-W7 on two builds of brisk, alternated, to
# tell a change's cost from the machine's drift. Each round starts one build, runs every
# workload, stops it, then does the same with the other; the order flips every round
# (before-after, after-before, ...), so drift falls on both sides alike. The report gives
# each side's median req/s over the rounds, the ratio of the medians, and each side's
# spread (max-min over its median): a difference inside the spread is noise.
# Writes target/bench-compare/results.jsonl and target/bench-compare/compare.md.
#
# Settings (environment): BEFORE (a git revision, built in a scratch worktree) or
# BEFORE_BIN (a built binary); AFTER_BIN (default: this tree's release build);
# BENCH_ROUNDS (3), BENCH_ONLY (workload names to run, e.g. "W1 W7"; default all),
# BENCH_DURATION (5s), BENCH_WARMUP (2s) and the rest as scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${BENCH_OUT:-target/bench-compare}
DATA="$OUT/data"
RESULTS="$OUT/results.jsonl"
DURATION=${BENCH_DURATION:-5s}
WARMUP=${BENCH_WARMUP:-2s}
ROUNDS=${BENCH_ROUNDS:-3}

# shellcheck source=lib/bench.sh
source scripts/lib/bench.sh

command -v wrk >/dev/null || { echo "bench-compare: wrk missing: run make services" >&2; exit 1; }
mkdir -p "$OUT" "$DATA"

# build_revision REV: the release binary of REV, built in a scratch worktree with this
# tree's target directory (only brisk itself is recompiled), copied out of the way.
build_revision() {
  local rev=$1 sha tree
  sha=$(git rev-parse --short "$rev^{commit}")
  local bin="$OUT/brisk-$sha"
  if [[ ! -x "$bin" ]]; then
    tree=$(mktemp -d)
    git worktree add --detach -f "$tree" "$sha" >&2
    echo "bench-compare: building $sha" >&2
    CARGO_TARGET_DIR="$PWD/target" cargo build --release --quiet --bin brisk --manifest-path "$tree/Cargo.toml"
    cp target/release/brisk "$bin"
    git worktree remove --force "$tree"
  fi
  echo "$bin"
}

if [[ -n "${BEFORE_BIN:-}" ]]; then
  BEFORE_LABEL=${BEFORE:-$(basename "$BEFORE_BIN")}
elif [[ -n "${BEFORE:-}" ]]; then
  BEFORE_BIN=$(build_revision "$BEFORE")
  BEFORE_LABEL=$BEFORE
else
  echo "bench-compare: set BEFORE=<git revision> or BEFORE_BIN=<binary>" >&2
  exit 2
fi
echo "bench-compare: building this tree (release)" >&2
cargo build --release --quiet --bin brisk --example bench_report
AFTER_BIN=${AFTER_BIN:-target/release/brisk}
REPORT=target/release/examples/bench_report

# The newer build migrates: an older one ignores the columns it does not know.
bench_data "$AFTER_BIN"
trap stop_brisk EXIT
: >"$RESULTS"; : >"$OUT/wrk.log"; : >"$OUT/brisk.log"

# side NAME BIN ROUND: one build over every workload. Each side has its own Redis prefix
# (the two builds may not share a cache format), kept across rounds.
side() {
  local name=$1 bin=$2 round=$3
  export BRISK_REDIS_PREFIX="bench-compare-$$-$name"
  start_brisk "$bin" "$WORKERS"
  for w in "${WORKLOADS[@]}"; do
    [[ -z "${BENCH_ONLY:-}" || " $BENCH_ONLY " == *" ${w%%|*} "* ]] || continue
    run "${w%%|*}" "${w#*|}" "${w%%|*}" "$WORKERS" "$name" "$round"
  done
  stop_brisk
}

for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2)); then
    side before "$BEFORE_BIN" "$round"; side after "$AFTER_BIN" "$round"
  else
    side after "$AFTER_BIN" "$round"; side before "$BEFORE_BIN" "$round"
  fi
done

"$REPORT" compare "$RESULTS" "$OUT" "$BEFORE_LABEL" "$(git rev-parse --short HEAD)$(git diff --quiet || echo +changes)"
cat "$OUT/compare.md"
