# Sourced by scripts/bench.sh: a flame graph of W1 beside the report (issue 17). A run of
# its own, never a measured one: perf samples brisk's stacks (`-e cpu-clock`, the only
# event this machine's perf has; `--call-graph dwarf`, the release build has no frame
# pointers) for BENCH_FLAME_SECONDS under W1, then inferno (crates.io, installed once
# with `cargo install inferno`) folds the stacks and draws `$OUT/flame-W1.svg`.

FLAME_SECONDS=${BENCH_FLAME_SECONDS:-5}

# ensure_inferno: inferno's two commands on PATH (cargo's bin directory), installed once.
ensure_inferno() {
  export PATH="$HOME/.cargo/bin:$PATH"
  command -v inferno-flamegraph >/dev/null && return 0
  log "installing inferno (cargo install inferno --locked)"
  cargo install --quiet inferno --locked
}

# flamegraph BIN: the whole part.
flamegraph() {
  local bin=$1
  command -v perf >/dev/null || die "perf missing (Debian's linux-perf)"
  ensure_inferno
  start_brisk "$bin" "$WORKERS"
  export BENCH_MODE=W1 BENCH_DATA=$DATA
  wrk -t"$THREADS" -c"$CONNS" -d"$((FLAME_SECONDS + 4))s" -s scripts/bench/workload.lua "$BASE" >/dev/null &
  local load=$!
  # Past wrk's connection set-up, so the samples are of requests being served.
  sleep 1
  perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$PID" -o "$OUT/perf-W1.data" \
    -- sleep "$FLAME_SECONDS" >/dev/null 2>&1
  wait "$load"
  stop_brisk
  perf script -i "$OUT/perf-W1.data" 2>/dev/null | inferno-collapse-perf >"$OUT/flame-W1.folded"
  [[ -s "$OUT/flame-W1.folded" ]] || die "perf recorded no stacks of brisk"
  inferno-flamegraph --title "brisk, W1 (GET /api/catalog, cached), $FLAME_SECONDS s of cpu-clock samples" \
    <"$OUT/flame-W1.folded" >"$OUT/flame-W1.svg"
  rm -f "$OUT/perf-W1.data"
  log "flame graph: $OUT/flame-W1.svg"
}
