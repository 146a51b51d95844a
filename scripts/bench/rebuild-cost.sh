#!/usr/bin/env bash
# scripts/bench/rebuild-cost.sh BIN DB [N]: the server's CPU (user + system, /proc) per
# pair of requests, N pairs (default 150) against a fresh server of BIN on database DB
# (through PgBouncer, access log off, RUST_LOG=warn, limits raised, own Redis prefix):
#   catalog: PUT a product of tenant 2, then GET tenant 2's catalog (a rebuild);
#   hit:     PUT a product of tenant 3, then GET tenant 2's catalog (a hit, same bytes).
# catalog − hit is what one catalog rebuild costs the server. Used to compare builds
# (BIN = target/release/brisk against an older build) at scale 1 and 5 (issue 17).
set -euo pipefail
bin=$1 db=$2 n=${3:-150} port=${BENCH_REBUILD_PORT:-18196}
BRISK_REDIS_PREFIX="cpu-$$-$RANDOM" BRISK_DATABASE_URL=postgres://root@127.0.0.1:6432/$db \
  BRISK_DIRECT_DATABASE_URL=postgres://root@127.0.0.1:5432/$db RUST_LOG=warn \
  "$bin" serve --bind 127.0.0.1:$port --workers 2 --access-log false --rate-limit-scale 100000 >"${TMPDIR:-/tmp}/rebuild-cost-$db.log" 2>&1 &
pid=$!
until curl -fsS -o /dev/null http://127.0.0.1:$port/health 2>/dev/null; do sleep 0.2; done
ids=($(psql postgres://root@127.0.0.1:5432/$db -Atc "select id from products where tenant_id = 2 order by id limit $n"))
others=($(psql postgres://root@127.0.0.1:5432/$db -Atc "select id from products where tenant_id = 3 order by id limit $n"))
auth="Authorization: Bearer demo-key-2"
ticks() { awk '{ print $14 + $15 }' /proc/$pid/stat; }
curl -fsS -o /dev/null -H "$auth" http://127.0.0.1:$port/api/catalog
for path in catalog hit; do
  t0=$(ticks)
  for i in "${!ids[@]}"; do
    if [[ $path == catalog ]]; then id=${ids[$i]} k=2; else id=${others[$i]} k=3; fi
    curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer demo-key-$k" -H 'Content-Type: application/json' -d "{\"price_cents\":$((RANDOM+100))}" http://127.0.0.1:$port/api/products/$id
    curl -fsS -o /dev/null -H "$auth" http://127.0.0.1:$port/api/catalog
  done
  t1=$(ticks)
  awk -v a="$t0" -v b=$t1 -v n=${#ids[@]} -v hz=$(getconf CLK_TCK) -v p=$path 'BEGIN { printf "%s: %.2f CPU ms per pair; ", p, (b-a)*1000/hz/n }'
done
echo
kill $pid; wait $pid 2>/dev/null || true
