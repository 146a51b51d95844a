# Sourced by scripts/bench.sh and scripts/bench-compare.sh: the seeded data the wrk
# script picks from, and starting, stopping and measuring one brisk binary.
# The sourcing script sets OUT, DATA, RESULTS, DURATION and WARMUP (its own defaults);
# the settings both scripts share are read here.

CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
PORT=${BENCH_PORT:-18080}
WORKERS=${BENCH_WORKERS:-$(nproc)}
DIRECT_URL=${BRISK_DIRECT_DATABASE_URL:-postgres://root@127.0.0.1:5432/brisk}
export BRISK_DATABASE_URL=${BRISK_DATABASE_URL:-postgres://root@127.0.0.1:6432/brisk}
# Plan limits raised for the bench (600/min × 100,000 for tenant 2's pro plan): every
# request still goes through the limiter and its Redis script, none is refused.
read -r -a LIMIT_ARGS <<<"${BENCH_LIMIT_ARGS:---rate-limit-scale 100000}"
BASE="http://127.0.0.1:$PORT"

# bench_data BIN: migrate and seed (if empty) with BIN, then write the ids and search
# terms the workloads pick from into $DATA.
bench_data() {
  local bin=$1
  "$bin" migrate --direct-database-url "$DIRECT_URL" >&2
  "$bin" seed --if-empty --direct-database-url "$DIRECT_URL" >&2
  psql "$DIRECT_URL" -Atc "select id from products where tenant_id = 2 order by id" >"$DATA/products.txt"
  psql "$DIRECT_URL" -Atc "select id from orders where tenant_id = 2 order by id" >"$DATA/orders.txt"
  local terms=data/search-terms.txt
  [[ -f "$terms" ]] || terms=../shared/data/search-terms.txt
  grep -v '^#' "$terms" | grep -v '^$' >"$DATA/terms.txt"
  [[ -s "$DATA/products.txt" && -s "$DATA/orders.txt" ]] || { echo "bench: no seeded data" >&2; exit 1; }
}

# The server's log configuration. The defaults here are bench-compare's (no access log,
# RUST_LOG=warn); scripts/bench.sh sets make run's (access log on, RUST_LOG unset: info).
read -r -a LOG_FLAGS <<<"${SERVER_LOG_FLAGS---access-log false}"
SERVER_RUST_LOG=${SERVER_RUST_LOG:-warn}

PID=""
# The processes whose CPU time a run measures (default: $PID, the server started last).
CPU_PIDS=""
stop_brisk() {
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  PID=""
  CPU_PIDS=""
}

# spawn_brisk BIN PORT WORKERS LOG [extra serve flags...]: starts one server on PORT
# (make run's log configuration unless the flags say otherwise), output appended to
# LOG; sets SPAWNED to its pid and waits for its /health.
spawn_brisk() {
  local bin=$1 port=$2 workers=$3 log=$4; shift 4
  RUST_LOG=${RUST_LOG:-$SERVER_RUST_LOG} "$bin" serve --bind "127.0.0.1:$port" --workers "$workers" \
    "${LOG_FLAGS[@]}" "${LIMIT_ARGS[@]}" "$@" >>"$log" 2>&1 &
  SPAWNED=$!
  wait_healthy "http://127.0.0.1:$port/health" "$SPAWNED" "$log"
}

# wait_healthy URL PID LOG: polls URL until it answers 2xx; exits if PID dies or after 60 s.
wait_healthy() {
  local url=$1 pid=$2 log=$3 deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "bench: $pid exited, see $log" >&2; exit 1; fi
    if ((SECONDS > deadline)); then echo "bench: $url not healthy after 60 s" >&2; exit 1; fi
    sleep 0.2
  done
}

# start_brisk BIN WORKERS [extra serve flags...]: serves on $PORT and waits for /health.
start_brisk() {
  local bin=$1 workers=$2; shift 2
  spawn_brisk "$bin" "$PORT" "$workers" "$OUT/brisk.log" "$@"
  PID=$SPAWNED
  CPU_PIDS=$PID
}

# run NAME LABEL MODE WORKERS VARIANT [ROUND]: a warm-up, then one measured wrk run whose
# JSON line (with VARIANT and ROUND) is appended to $RESULTS. TARGET (default $BASE) is
# the URL driven, RUN_DURATION (default $DURATION) the measured run's length, RUN_DATA
# (default $DATA) the directory of the ids and terms the workload picks from.
run() {
  local name=$1 label=$2 mode=$3 workers=$4 variant=$5 round=${6:-0}
  local target=${TARGET:-$BASE} duration=${RUN_DURATION:-$DURATION}
  export BENCH_MODE=$mode BENCH_NAME=$name BENCH_LABEL=$label BENCH_WORKERS=$workers \
    BENCH_VARIANT=$variant BENCH_ROUND=$round BENCH_DATA=${RUN_DATA:-$DATA}
  if [[ "$WARMUP" != "0" && "$WARMUP" != "0s" ]]; then
    wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s scripts/bench/workload.lua "$target" >/dev/null
  fi
  echo "bench: $name ($label) workers=$workers $variant ${round:+round $round} -> $target" >&2
  local before line
  before=$(cpu_ticks)
  # A hook run once the measured run has started (the doctor's window), in the background.
  [[ -n "${DURING_RUN:-}" ]] && { "$DURING_RUN" & DURING_PID=$!; }
  line=$(wrk -t"$THREADS" -c"$CONNS" -d"$duration" --timeout 10s -s scripts/bench/workload.lua "$target" \
    | tee -a "$OUT/wrk.log" | sed -n 's/^BENCHJSON //p')
  [[ -n "$line" ]] || { echo "bench: wrk printed no result, see $OUT/wrk.log" >&2; exit 1; }
  # The server's CPU time during the run (all its threads): with the request count it
  # gives CPU per request, which the machine's other load disturbs less than req/s.
  local cpu
  cpu=$(awk -v a="$before" -v b="$(cpu_ticks)" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')
  echo "${line%\}},\"server_cpu_s\":$cpu}" >>"$RESULTS"
  tail -n1 "$RESULTS" >&2
}

# cpu_ticks: user + system clock ticks so far of the processes in CPU_PIDS (0 without).
cpu_ticks() {
  local total=0 p t
  for p in $CPU_PIDS; do
    if [[ -r /proc/$p/stat ]]; then
      t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
      total=$((total + ${t:-0}))
    fi
  done
  echo "$total"
}

# The workloads, NAME|LABEL (the wrk script's BENCH_MODE is NAME).
WORKLOADS=(
  "W1|GET /api/catalog"
  "W2|GET /api/products/{id}/summary"
  "W3|GET /api/orders?page=1..20&per_page=50"
  "W4|GET /api/orders/{id}"
  "W5|GET /api/search?q=term"
  "W6|mix 60% W1/W2/W5, 30% W3/W4, 10% PUT"
  "W7|GET /health"
)

# start_nginx PREFIX PORT: nginx on PREFIX/nginx.conf (already rendered), once it answers
# /health on 127.0.0.1:PORT; its master's pid in NGINX_PID, and CPU_PIDS gains the master
# and its workers (the caller puts its own processes first).
start_nginx() {
  local prefix=$1 port=$2
  nginx -t -q -p "$prefix" -c "$prefix/nginx.conf" || die "nginx refused $prefix/nginx.conf"
  nginx -p "$prefix" -c "$prefix/nginx.conf"
  local deadline=$((SECONDS + 30))
  until [[ -s "$prefix/nginx.pid" ]] && curl -fsS -o /dev/null "http://127.0.0.1:$port/health"; do
    ((SECONDS < deadline)) || die "nginx on :$port not answering (see $prefix/error.log)"
    sleep 0.2
  done
  NGINX_PID=$(cat "$prefix/nginx.pid")
  CPU_PIDS="${CPU_PIDS:-} $NGINX_PID $(cat /proc/"$NGINX_PID"/task/*/children)"
}

