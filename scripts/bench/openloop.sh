# Sourced by scripts/bench.sh: the openloop part (issue 17). wrk with 64 connections is a
# closed loop (at saturation each connection waits for its answer, so latency ≈ 64 /
# throughput); here `oha` (crates.io, installed once with `cargo install oha --locked`)
# sends requests at a fixed rate whatever the latency (`-q RATE`), and with
# `--latency-correction` counts each request's latency from its scheduled send time, so
# a stall shows in the percentiles instead of slowing the sender (coordinated omission).
# Rates: 50 % and 80 % of brisk's own saturation for that workload in this run (the main
# part's wrk req/s, or a short wrk run of BENCH_OPENLOOP_SAT_DURATION when main was
# skipped), each for BENCH_EXTRA_DURATION, one `kind: openloop` line per run.
# W1, W2, W3, W4, W5, W7: oha sends one method, so W6's mix (10 % PUT with bodies,
# drawn by the wrk script) is left out, named in the report.

OPENLOOP_FRACTIONS=${BENCH_OPENLOOP_FRACTIONS:-"0.5 0.8"}
OPENLOOP_SAT_DURATION=${BENCH_OPENLOOP_SAT_DURATION:-5s}
OPENLOOP_DIR="$OUT/openloop"

# ensure_oha: oha on PATH (cargo's bin directory), installed once.
ensure_oha() {
  export PATH="$HOME/.cargo/bin:$PATH"
  command -v oha >/dev/null && return 0
  log "installing oha (cargo install oha --locked)"
  cargo install --quiet oha --locked
}

# openloop_urls NAME FILE: the URLs oha picks from at random for workload NAME (the
# wrk script's choices: a random product, order page, order or search term).
openloop_urls() {
  local name=$1 file=$2
  case $name in
    W1) echo "$BASE/api/catalog" ;;
    W2) sed "s#^#$BASE/api/products/#; s#\$#/summary#" "$DATA/products.txt" ;;
    W3) for p in $(seq 1 20); do echo "$BASE/api/orders?page=$p&per_page=50"; done ;;
    W4) sed "s#^#$BASE/api/orders/#" "$DATA/orders.txt" ;;
    W5) sed "s#^#$BASE/api/search?q=#" "$DATA/terms.txt" ;;
    W7) echo "$BASE/health" ;;
    *) die "openloop: no URLs for $name" ;;
  esac >"$file"
}

# saturation NAME LABEL: the workload's wrk req/s of the main part in this run, else a
# short wrk run's (variant "openloop-saturation"); prints "RPS SOURCE".
saturation() {
  local name=$1 label=$2 rps
  rps=$(jq -r --arg n "$name" 'select(.variant == "main" and .name == $n) | .rps' "$RESULTS" | tail -n1)
  if [[ -n "$rps" ]]; then
    echo "$rps main"
    return 0
  fi
  RUN_DURATION=$OPENLOOP_SAT_DURATION run "$name" "$label" "$name" "$WORKERS" openloop-saturation
  rps=$(jq -r --arg n "$name" 'select(.variant == "openloop-saturation" and .name == $n) | .rps' "$RESULTS" | tail -n1)
  echo "$rps short-wrk"
}

# openloop_run NAME LABEL FRACTION SAT SOURCE: one oha run at FRACTION × SAT req/s.
openloop_run() {
  local name=$1 label=$2 fraction=$3 sat=$4 source=$5 rate json
  rate=$(awk -v s="$sat" -v f="$fraction" 'BEGIN { printf "%.0f", s * f }')
  json="$OPENLOOP_DIR/$name-$fraction.json"
  local auth=(-H "Authorization: Bearer demo-key-2")
  [[ $name == W7 ]] && auth=()
  log "openloop: $name ($label) at $rate req/s ($fraction × $sat, $source)"
  # -w: requests in flight at the deadline are waited for, not counted as errors.
  oha --no-tui --output-format json -o "$json" -z "$EXTRA_DURATION" -w -c "$CONNS" -q "$rate" \
    --latency-correction -t 10s "${auth[@]}" --urls-from-file "$OPENLOOP_DIR/$name.urls"
  jq -c --arg n "$name" --arg l "$label" --argjson f "$fraction" --argjson sat "$sat" \
    --arg src "$source" --argjson rate "$rate" '{
      kind: "openloop", name: $n, label: $l, fraction: $f, saturation_rps: $sat,
      saturation_source: $src, target_rps: $rate,
      achieved_rps: .summary.requestsPerSec, duration_s: .summary.total,
      success_rate: .summary.successRate,
      requests: ([.statusCodeDistribution[]] | add // 0),
      non_2xx: ([.statusCodeDistribution | to_entries[] | select(.key | test("^[23]") | not) | .value] | add // 0),
      errors: ([.errorDistribution[]?] | add // 0),
      p50_ms: (.latencyPercentiles.p50 * 1000), p90_ms: (.latencyPercentiles.p90 * 1000),
      p99_ms: (.latencyPercentiles.p99 * 1000), p999_ms: (.latencyPercentiles["p99.9"] * 1000),
      max_ms: (.summary.slowest * 1000)
    }' "$json" | tee -a "$RESULTS" >&2
}

# openloop BIN: the whole part.
openloop() {
  local bin=$1 w name label sat source f
  ensure_oha
  rm -rf "$OPENLOOP_DIR"
  mkdir -p "$OPENLOOP_DIR"
  start_brisk "$bin" "$WORKERS"
  for w in "${WORKLOADS[@]}"; do
    name=${w%%|*} label=${w#*|}
    [[ $name == W6 ]] && continue
    openloop_urls "$name" "$OPENLOOP_DIR/$name.urls"
    read -r sat source < <(saturation "$name" "$label")
    [[ -n "$sat" ]] || die "openloop: no saturation rate for $name"
    # Warm caches (the main part's runs have their own warm-up; this server is new).
    BENCH_MODE=$name BENCH_DATA=$DATA wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" \
      -s scripts/bench/workload.lua "$BASE" >/dev/null
    for f in $OPENLOOP_FRACTIONS; do
      openloop_run "$name" "$label" "$f" "$sat" "$source"
    done
  done
  stop_brisk
}
