# Sourced by scripts/bench.sh: the scale part (issue 17). The same server configuration
# (make run's) against the standard database (scale 1, bench_data's) and against a second
# database seeded with `brisk seed --scale 5` (BENCH_SCALE_DB, default brisk_scale5: seeded
# once, kept across runs when its row counts are scale 5's), W1-W7 for BENCH_EXTRA_DURATION
# each (variants "scale1" and "scale5"). Each database has its own workload data files
# (product and order ids differ; the API keys demo-key-1..4 and tenants 1..4 are the same)
# and its server its own Redis prefix (tenant 2's catalog differs between the two).

SCALE_FACTOR=5
SCALE_DB=${BENCH_SCALE_DB:-brisk_scale5}
# The scale-5 database's URLs: the bench's own, with the database name replaced.
SCALE_DIRECT_URL="${DIRECT_URL%/*}/$SCALE_DB"
SCALE_POOLED_URL="${BRISK_DATABASE_URL%/*}/$SCALE_DB"
SCALE_DATA="$OUT/data-scale$SCALE_FACTOR"

# scale_rows URL: "products orders" of the database at URL.
scale_rows() {
  psql "$1" -Atc "select (select count(*) from products) || ' ' || (select count(*) from orders)"
}

# ensure_scale_db BIN: migrates the scale-5 database (created if missing) and seeds it
# unless it already holds exactly scale 5's rows; refuses one holding other rows.
ensure_scale_db() {
  local bin=$1 rows want_products want_orders
  want_products=$((4 * 1000 * SCALE_FACTOR))
  want_orders=$((4 * 50000 * SCALE_FACTOR))
  "$bin" migrate --direct-database-url "$SCALE_DIRECT_URL" >&2
  rows=$(scale_rows "$SCALE_DIRECT_URL")
  if [[ "$rows" == "0 0" ]]; then
    log "seeding $SCALE_DB at scale $SCALE_FACTOR (once; kept for later runs)"
    "$bin" seed --scale "$SCALE_FACTOR" --direct-database-url "$SCALE_DIRECT_URL" >&2
    rows=$(scale_rows "$SCALE_DIRECT_URL")
  fi
  [[ "$rows" == "$want_products $want_orders" ]] ||
    die "$SCALE_DB holds $rows products/orders, not scale $SCALE_FACTOR's $want_products $want_orders: drop it (dropdb $SCALE_DB) and run again"
  log "$SCALE_DB: $rows products/orders (scale $SCALE_FACTOR)"
  mkdir -p "$SCALE_DATA"
  psql "$SCALE_DIRECT_URL" -Atc "select id from products where tenant_id = 2 order by id" >"$SCALE_DATA/products.txt"
  psql "$SCALE_DIRECT_URL" -Atc "select id from orders where tenant_id = 2 order by id" >"$SCALE_DATA/orders.txt"
  cp "$DATA/terms.txt" "$SCALE_DATA/terms.txt"
}

# scale_runs BIN VARIANT DATA-DIR: W1-W7 (or those of BENCH_SCALE_ONLY, e.g. "W6")
# against the server just started.
scale_runs() {
  local w
  for w in "${WORKLOADS[@]}"; do
    [[ -z "${BENCH_SCALE_ONLY:-}" || " $BENCH_SCALE_ONLY " == *" ${w%%|*} "* ]] || continue
    RUN_DATA=$3 RUN_DURATION=$EXTRA_DURATION run "${w%%|*}" "${w#*|}" "${w%%|*}" "$WORKERS" "$2"
  done
}

# scale BIN: the whole part.
scale() {
  local bin=$1
  ensure_scale_db "$bin"
  start_brisk "$bin" "$WORKERS"
  scale_runs "$bin" scale1 "$DATA"
  stop_brisk
  BRISK_DATABASE_URL=$SCALE_POOLED_URL BRISK_DIRECT_DATABASE_URL=$SCALE_DIRECT_URL \
    BRISK_REDIS_PREFIX="$BRISK_REDIS_PREFIX-scale$SCALE_FACTOR" start_brisk "$bin" "$WORKERS"
  scale_runs "$bin" "scale$SCALE_FACTOR" "$SCALE_DATA"
  stop_brisk
}
