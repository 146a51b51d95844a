# Sourced by scripts/bench.sh: the machine's ceilings in the same run.
# - nginx (Debian's, 2 workers, access log off, keep-alive on; scripts/bench/nginx-static.conf)
#   serves the bytes brisk sends for W1 (the catalog), W2 (one product's summary) and W5
#   (one term's search) as static files, and /health as `return 200` with brisk's body;
#   wrk drives it with the workloads' own script (variant "ceiling-nginx").
# - pgbench (BENCH_PGBENCH_CLIENTS connections, 16 = brisk's pool; through PgBouncer, as
#   brisk connects) runs the statements brisk runs for W3 and W4, found in
#   pg_stat_statements (a `kind: pgbench` line).
# Uses BENCH_PORT+10 for nginx, $OUT/ceilings for its files.

STATIC_PORT=$((PORT + 10))
STATIC_DIR="$(realpath -m "$OUT")/ceilings"
STATIC_NGINX_PID=""
PGBENCH_CLIENTS=${BENCH_PGBENCH_CLIENTS:-16}

# fetch_bodies BIN: brisk's answers the static server will send, fetched from brisk once.
fetch_bodies() {
  local www="$STATIC_DIR/nginx/www" auth="Authorization: Bearer demo-key-2"
  mkdir -p "$www"
  start_brisk "$1" "$WORKERS"
  curl -fsS -H "$auth" "$BASE/api/catalog" -o "$www/catalog.json"
  curl -fsS -H "$auth" "$BASE/api/products/$(head -n1 "$DATA/products.txt")/summary" -o "$www/summary.json"
  curl -fsS -H "$auth" "$BASE/api/search?q=$(head -n1 "$DATA/terms.txt")" -o "$www/search.json"
  curl -fsS "$BASE/health" -o "$STATIC_DIR/health.json"
  stop_brisk
  chmod -R a+rX "$STATIC_DIR"
  log "bodies: catalog $(stat -c %s "$www/catalog.json") B, summary $(stat -c %s "$www/summary.json") B," \
    "search $(stat -c %s "$www/search.json") B, health $(stat -c %s "$STATIC_DIR/health.json") B"
}

# start_static_nginx: renders the configuration with brisk's /health body and starts it.
start_static_nginx() {
  ensure_nginx
  local prefix="$STATIC_DIR/nginx" health
  mkdir -p "$prefix/tmp"
  # nginx's single-quoted string: backslash and quote escaped; then, for sed's
  # replacement below, backslash, & and # escaped.
  health=$(tr -d '\n' <"$STATIC_DIR/health.json" | sed -e 's/[\\'"'"']/\\&/g' -e 's/[\\&#]/\\&/g')
  sed -e "s#@PREFIX@#$prefix#g" -e "s#@LISTEN@#127.0.0.1:$STATIC_PORT#" -e "s#@HEALTH@#$health#" \
    scripts/bench/nginx-static.conf >"$prefix/nginx.conf"
  # Its CPU: the master and its workers.
  CPU_PIDS=""
  start_nginx "$prefix" "$STATIC_PORT"
  STATIC_NGINX_PID=$NGINX_PID
}

stop_static_nginx() {
  if [[ -n "$STATIC_NGINX_PID" ]] && kill -0 "$STATIC_NGINX_PID" 2>/dev/null; then
    kill -QUIT "$STATIC_NGINX_PID"
    local deadline=$((SECONDS + 20))
    while kill -0 "$STATIC_NGINX_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  fi
  STATIC_NGINX_PID=""
  CPU_PIDS=""
}

# pss_calls: "queryid calls" of every statement of this database in pg_stat_statements.
pss_calls() {
  psql "$DIRECT_URL" -Atc "select queryid || ' ' || calls from pg_stat_statements
    where dbid = (select oid from pg_database where datname = current_database())"
}

# statement_like ERE BEFORE: the most called statement of this database whose text
# matches ERE and that ran since BEFORE (pss_calls' output), on one line: the database
# may hold statements of other builds. diesel prepares each statement once per
# connection, so its text (with $1, $2... parameters) is the one brisk sends.
statement_like() {
  local id calls query
  while IFS=$'\t' read -r id calls query; do
    if ! grep -qxF -- "$id $calls" <<<"$2"; then
      printf '%s\n' "$query"
      return 0
    fi
  done < <(psql "$DIRECT_URL" -At -F $'\t' -c "select queryid, calls, regexp_replace(query, '\s+', ' ', 'g')
    from pg_stat_statements
    where dbid = (select oid from pg_database where datname = current_database())
      and query ~ '$1' order by calls desc")
}

# pgbench_scripts BIN: the W3 and W4 scripts under $STATIC_DIR/pgbench, from the
# statements brisk ran (a short W3 and W4 against a fresh server first, so they are in
# pg_stat_statements), with W3's 20 pages and W4's random order of tenant 2.
pgbench_scripts() {
  local bin=$1 dir="$STATIC_DIR/pgbench" before
  mkdir -p "$dir"
  psql "$DIRECT_URL" -qAtc "set client_min_messages = warning; create extension if not exists pg_stat_statements" >/dev/null ||
    die "pg_stat_statements is not available (make services loads it)"
  before=$(pss_calls)
  start_brisk "$bin" "$WORKERS"
  RUN_DURATION=2s WARMUP=0 run W3 "statements" W3 "$WORKERS" statements >/dev/null 2>&1
  RUN_DURATION=2s WARMUP=0 run W4 "statements" W4 "$WORKERS" statements >/dev/null 2>&1
  stop_brisk
  # (the lines of these two runs are not results)
  sed -i '/"variant":"statements"/d' "$RESULTS"
  local page find items
  page=$(statement_like '^SELECT .* FROM \(?"orders" INNER JOIN "customers".* = ANY\(SELECT "orders"."id"' "$before")
  find=$(statement_like '^SELECT .* FROM \(?"orders" INNER JOIN "customers".*"orders"."id" = \$2\)* LIMIT' "$before")
  items=$(statement_like '^SELECT .* FROM "order_items" WHERE .*"order_items"."order_id" = ANY\(\$1\)' "$before")
  [[ -n "$page" && -n "$find" && -n "$items" ]] ||
    die "W3/W4 statements not found in pg_stat_statements (page: ${page:0:60}, find: ${find:0:60}, items: ${items:0:60})"
  printf '%s\n' "-- W3's page statement" "$page" "-- W4's order statement" "$find" \
    "-- the items statement of both" "$items" >"$dir/statements.sql"
  pgbench_w3 "$page" "$items" "$dir"
  pgbench_w4 "$find" "$items" "$dir"
}

# W3: page p of 20 (50 orders, tenant 2), then the items of that page's orders: one
# script per page (pgbench picks one at random per transaction). Every parameter brisk
# binds is a pgbench variable (a parameter of the prepared statement too), but the
# items' array, which pgbench variables cannot hold: the page's ids are written into
# the items statement as an array literal.
pgbench_w3() {
  local page=$1 items=$2 dir=$3 p ids
  for p in $(seq 1 20); do
    ids=$(psql "$DIRECT_URL" -Atc "select '{' || string_agg(id::text, ',') || '}' from (select id from orders
      where tenant_id = 2 order by created_at desc, id desc limit 50 offset $(((p - 1) * 50))) page")
    {
      printf '\\set tenant 2\n\\set per_page 50\n\\set offset %d\n' $(((p - 1) * 50))
      pg_params "$page" :tenant :tenant :per_page :offset
      pg_params "$items" "'$ids'"
    } >"$dir/w3-page$p.sql"
  done
}

# W4: a random order of tenant 2, then its items. Tenant 2's order ids are not one range,
# so each of 10 scripts picks among 1,000 ids of the bench's data file (10,000 distinct
# ids drawn at random, one in five) through a CASE expression.
pgbench_w4() {
  local find=$1 items=$2 dir=$3 k
  shuf -n 10000 "$DATA/orders.txt" | split -l 1000 -d - "$dir/w4-ids."
  for k in $(seq 0 9); do
    {
      printf '\\set r random(0, 999)\n\\set id case'
      awk '{ printf " when :r = %d then %s", NR - 1, $1 }' "$dir/w4-ids.0$k"
      printf ' end\n\\set tenant 2\n\\set one 1\n'
      pg_params "$find" :tenant :id :one
      pg_params "$items" "ARRAY[:id]::bigint[]"
    } >"$dir/w4-ids$k.sql"
    rm -f "$dir/w4-ids.0$k"
  done
}

# pg_params STATEMENT VALUE...: the statement with $1, $2, ... replaced by the values
# (pgbench variables stay parameters in -M prepared), on one line ending with ';'.
# From the last parameter down, so that $1 never matches the start of $10.
pg_params() {
  local sql=$1 i
  shift
  local values=("$@")
  for ((i = ${#values[@]}; i >= 1; i--)); do
    sql=${sql//"\$$i"/"${values[i - 1]}"}
  done
  printf '%s;\n' "$(printf '%s' "$sql" | tr '\n' ' ')"
}

# pgbench_run NAME LABEL SCRIPT...: a warm-up, then one measured pgbench run through
# PgBouncer ($BRISK_DATABASE_URL) with prepared statements, as diesel runs them; appends
# a `kind: pgbench` line.
pgbench_run() {
  local name=$1 label=$2; shift 2
  local files=() f
  for f in "$@"; do files+=(-f "$f@1"); done
  local secs=${EXTRA_DURATION%s}
  local warm
  warm=$(pgbench -n -M prepared -c "$PGBENCH_CLIENTS" -j "$THREADS" -T 2 "${files[@]}" "$BRISK_DATABASE_URL" 2>&1) ||
    die "pgbench (warm-up) failed: $(tail -n 3 <<<"$warm")"
  log "$name ($label) pgbench -c $PGBENCH_CLIENTS, $secs s"
  local out
  out=$(pgbench -n -M prepared -c "$PGBENCH_CLIENTS" -j "$THREADS" -T "$secs" "${files[@]}" "$BRISK_DATABASE_URL" 2>&1) ||
    die "pgbench failed: $out"
  echo "$out" >>"$OUT/pgbench.log"
  local tps lat tx failed
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -n1)
  lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
  tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
  echo "{\"kind\":\"pgbench\",\"name\":\"$name\",\"label\":\"$label\",\"clients\":$PGBENCH_CLIENTS,\"duration_s\":$secs,\"transactions\":${tx:-0},\"failed\":${failed:-0},\"tps\":${tps:-0},\"latency_ms\":${lat:-0}}" |
    tee -a "$RESULTS" >&2
}

# ceilings BIN: the whole part.
ceilings() {
  local bin=$1
  rm -rf "$STATIC_DIR"
  : >"$OUT/pgbench.log"
  fetch_bodies "$bin"
  start_static_nginx
  local w
  for w in "W1|GET /api/catalog" "W2|GET /api/products/{id}/summary" "W5|GET /api/search?q=term" "W7|GET /health"; do
    TARGET="http://127.0.0.1:$STATIC_PORT" RUN_DURATION=$EXTRA_DURATION \
      run "${w%%|*}" "${w#*|}" "${w%%|*}" 2 ceiling-nginx
  done
  stop_static_nginx
  # Debian 12 ships pgbench with the server (postgresql-15, which `make services`
  # installs and postgresql-contrib depends on), not with postgresql-client.
  if ! command -v pgbench >/dev/null; then
    # shellcheck source=../lib/apt.sh
    source scripts/lib/apt.sh
    apt_install postgresql-contrib
  fi
  pgbench_scripts "$bin"
  pgbench_run W3 "page + items (20 pages)" "$STATIC_DIR"/pgbench/w3-page*.sql
  pgbench_run W4 "order + items (10,000 orders at random)" "$STATIC_DIR"/pgbench/w4-ids*.sql
}
