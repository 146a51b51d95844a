# Sourced by scripts/bench.sh: the doctor's cost figures against the bench's own.
# For W1 and W3 (one server as `make run` starts it): a warm-up, then a measured wrk run
# of BENCH_DOCTOR_DURATION during which `brisk doctor --window N --json` (N = the
# duration minus 4 s, started 1 s in) prices the requests of its window from the
# server's /metrics and pg_stat_statements. The bench measures the same run its own way:
# the server's CPU from /proc/PID/stat (the run's line) and PostgreSQL's execution time
# of this database from pg_stat_statements read before and after the run (a difference,
# not a reset: the PostgreSQL is shared, and a reset would disturb whoever else reads it).
# Writes $OUT/doctor-W1.json, $OUT/doctor-W3.json and a `kind: doctor` line each.

DOCTOR_DURATION=${BENCH_DOCTOR_DURATION:-20s}

# pg_exec_ms: milliseconds PostgreSQL has spent executing this database's statements.
pg_exec_ms() {
  psql "$DIRECT_URL" -Atc "select coalesce(sum(total_exec_time), 0) from pg_stat_statements
    where dbid = (select oid from pg_database where datname = current_database())"
}

# The DURING_RUN hook: the doctor over a window inside the measured run.
doctor_during() {
  sleep 1
  "$DOCTOR_BIN" doctor --url "$BASE" --ops "$BASE" --database-url "$DIRECT_URL" \
    --window "$DOCTOR_WINDOW" --no-probes --json >"$DOCTOR_OUT" 2>"$DOCTOR_OUT.stderr" || true
}

# doctor_check BIN: the whole part.
doctor_check() {
  local bin=$1 w name label before after secs=${DOCTOR_DURATION%s}
  ((secs >= 8)) || die "BENCH_DOCTOR_DURATION must be at least 8s (the doctor's window is 4 s shorter)"
  DOCTOR_BIN=$bin
  DOCTOR_WINDOW=$((secs - 4))
  psql "$DIRECT_URL" -qAtc "set client_min_messages = warning; create extension if not exists pg_stat_statements" >/dev/null ||
    die "pg_stat_statements is not available (make services loads it)"
  start_brisk "$bin" "$WORKERS"
  for w in "W1|GET /api/catalog" "W3|GET /api/orders?page=1..20&per_page=50"; do
    name=${w%%|*} label=${w#*|}
    export BENCH_MODE=$name BENCH_DATA=$DATA
    wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s scripts/bench/workload.lua "$BASE" >/dev/null
    DOCTOR_OUT="$OUT/doctor-$name.json"
    before=$(pg_exec_ms)
    WARMUP=0 RUN_DURATION=$DOCTOR_DURATION DURING_RUN=doctor_during run "$name" "$label" "$name" "$WORKERS" doctor
    after=$(pg_exec_ms)
    wait "$DURING_PID" || true
    [[ -s "$DOCTOR_OUT" ]] || log "doctor printed nothing for $name (see $DOCTOR_OUT.stderr)"
    echo "{\"kind\":\"doctor\",\"name\":\"$name\",\"doctor_json\":\"$DOCTOR_OUT\",\"window_s\":$DOCTOR_WINDOW,\"pg_exec_ms\":$(awk -v a="$before" -v b="$after" 'BEGIN { printf "%.3f", b - a }')}" |
      tee -a "$RESULTS" >&2
  done
  stop_brisk
}
