#!/bin/bash
# Issue 9's findings 1, 6, 7, 10 and 14 as a client meets them, against any build of
# brisk (e.g. an old commit's release binary, to see the findings, and this one's, to
# see them fixed): scripts/hostile-repro.sh BIN PORT. It serves the seeded `brisk`
# database through PgBouncer (make run's data set) on 127.0.0.1:PORT with a fresh Redis
# prefix per start, adds and deletes one API key and places a few orders for tenant 2.
BIN=$1; PORT=$2; BASE=http://127.0.0.1:$PORT
export BRISK_DATABASE_URL=postgres://root@127.0.0.1:6432/brisk
DB=postgres://root@127.0.0.1:5432/brisk
start() { export BRISK_REDIS_PREFIX="repro-$PORT-$RANDOM$RANDOM"; RUST_LOG=warn $BIN serve --bind 127.0.0.1:$PORT --workers 2 "$@" >/tmp/repro-$PORT.log 2>&1 & PID=$!
  for i in $(seq 100); do curl -fsS -o /dev/null $BASE/health 2>/dev/null && return 0; kill -0 $PID 2>/dev/null || return 1; sleep 0.1; done; return 1; }
stop() { kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; }
codes() { sort | uniq -c | tr '\n' ' '; echo; }
echo "== $BIN"
start || echo "did not start"
echo "-- 1: 8 wrong logins to /api/log%69n from one address:"
stop; start
for i in $(seq 8); do curl -s -o /dev/null -w '%{http_code}\n' -X POST $BASE/api/log%69n -H 'content-type: application/json' -d '{"email":"admin@tenant2.example","password":"wrong"}'; done | codes
stop; start
echo "-- 7: 40 random keys from one address (limit 30 per minute):"
for i in $(seq 40); do curl -s -o /dev/null -w '%{http_code}\n' $BASE/api/catalog -H "Authorization: Bearer guess-$RANDOM$RANDOM$i"; done | codes
stop; start
echo "-- 6: a key deleted by SQL, then asked every 0.5 s for 10 s:"
RAW="repro-$PORT-$RANDOM$RANDOM"; HASH=$(printf %s "$RAW" | sha256sum | cut -d' ' -f1)
psql -q "$DB" -c "insert into api_keys (tenant_id, key_hash, label) values (2, '$HASH', 'repro')" 2>&1 | head -2
curl -s -o /dev/null -w 'before delete: %{http_code}\n' $BASE/api/catalog -H "Authorization: Bearer $RAW"
psql -q "$DB" -c "delete from api_keys where key_hash = '$HASH'"
for i in $(seq 20); do sleep 0.5; curl -s -o /dev/null -w '%{http_code}\n' $BASE/api/catalog -H "Authorization: Bearer $RAW"; done | codes
stop
echo "-- 14: serve --rate-limit-route 'GET /api/catalog = 1 per minute by user':"
if start --rate-limit-route 'GET /api/catalog = 1 per minute by user'; then
  for i in 1 2 3; do curl -s -o /dev/null -w '%{http_code}\n' $BASE/api/catalog -H 'Authorization: Bearer demo-key-2'; done | codes
  stop
else echo "refused at start-up: $(grep -v '^\s*$' /tmp/repro-$PORT.log | tail -1)"; fi
echo "-- 10: an order waits on a row lock; its claim is aged an hour; a retry with the same key:"
start
P=$(psql -At "$DB" -c "select id from products where tenant_id=2 order by id offset 7 limit 1")
C=$(psql -At "$DB" -c "select id from customers where tenant_id=2 order by id offset 7 limit 1")
K="steal-$PORT-$RANDOM"
psql -q "$DB" -c "update products set stock = 1000 where id = $P"
N0=$(psql -At "$DB" -c "select count(*) from orders where customer_id = $C")
BODY="{\"customer_id\":$C,\"items\":[{\"product_id\":$P,\"quantity\":1}]}"
psql -q "$DB" -c "begin; select id from products where id = $P for update; select pg_sleep(4); commit;" >/dev/null &
sleep 0.5
post() { curl -s -o /dev/null -w "$1 %{http_code}\n" -X POST $BASE/api/orders -H 'Authorization: Bearer demo-key-2' -H "Idempotency-Key: $K" -H 'content-type: application/json' -d "$BODY"; }
post first & F=$!; sleep 1
psql -q "$DB" -c "set lock_timeout = '300ms'; update idempotency_keys set created_at = now() - interval '1 hour' where key = '$K'" 2>&1 | tail -1
post retry & R=$!
wait $F $R
N1=$(psql -At "$DB" -c "select count(*) from orders where customer_id = $C")
echo "orders made for one Idempotency-Key: $((N1 - N0))"
stop
