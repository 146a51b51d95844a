#!/usr/bin/env bash
# Fuzzes the running API against its own OpenAPI document with schemathesis (PyPI),
# the last step of `scripts/test.sh`: a real brisk (debug build) on a free port over a
# scratch database (migrated, seeded at scale 0.02) through PgBouncer, its own Redis
# prefix, limits raised with `--rate-limit-scale` (and the failed-authentication limit:
# a fuzzer sends many bad logins from one address), authenticated as tenant 2
# (`demo-key-2`). Checks: no 5xx, status codes, content types, headers and bodies as
# documented. Exits non-zero when schemathesis reports a failure or an error; ends with
# one line of numbers (operations, test cases, checks).
#
# SCHEMATHESIS_PROCS=N (N > 1; `make test-cluster` runs it with 2) runs the same
# fuzzing through nginx instead: N processes of the release build behind nginx, started
# by scripts/cluster.sh as `make cluster` starts them (`--trusted-hops 1`, operations
# endpoints on their own listener) on ports 28081.. and 29091.., nginx on 28080; the
# document is read from process 1's operations listener, every request goes through
# nginx, the operations endpoints left out (not public there). Its output goes to
# target/schemathesis-cluster/.
#
# Settings (environment): SCHEMATHESIS_MAX_EXAMPLES (100 per operation and phase),
# SCHEMATHESIS_SEED (fixed: the same cases each run; `random` for a new seed),
# SCHEMATHESIS_PHASES (examples,coverage,fuzzing), BRISK_TEST_DIRECT
# (postgres://root@127.0.0.1:5432), BRISK_TEST_BOUNCER (postgres://root@127.0.0.1:6432),
# BRISK_REDIS_URL.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VERSION=4.32.5
VENV=target/schemathesis-venv
PROCS=${SCHEMATHESIS_PROCS:-1}
OUT=target/schemathesis
[[ "$PROCS" -gt 1 ]] && OUT=target/schemathesis-cluster
# The cluster's ports (SCHEMATHESIS_PROCS > 1): nginx, then process i's API and
# operations listeners at +i.
CLUSTER_PORT=28080
CLUSTER_OPS_PORT=29090
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-100}
SEED=${SCHEMATHESIS_SEED:-20260304}
PHASES=${SCHEMATHESIS_PHASES:-examples,coverage,fuzzing}
DIRECT=${BRISK_TEST_DIRECT:-postgres://root@127.0.0.1:5432}
BOUNCER=${BRISK_TEST_BOUNCER:-postgres://root@127.0.0.1:6432}
DB="brisk_st_$$"
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance

log() { echo "schemathesis.sh: $*" >&2; }

mkdir -p "$OUT"
rm -f "$OUT"/report.json "$OUT"/junit.xml

# schemathesis from PyPI, pinned, in a venv under target/ (installed once).
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
    log "installing schemathesis $VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi

if [[ "$PROCS" -gt 1 ]]; then
    cargo build --quiet --release --bin brisk
    BIN=target/release/brisk
else
    cargo build --quiet --bin brisk
    BIN=target/debug/brisk
fi

# scripts/cluster.sh pointed at this run's own cluster.
cluster() {
    CLUSTER_RUN="$PWD/$OUT/cluster" CLUSTER_PORT=$CLUSTER_PORT CLUSTER_OPS_PORT=$CLUSTER_OPS_PORT \
        PROCS=$PROCS WORKERS=1 BRISK="$PWD/$BIN" scripts/cluster.sh "$@"
}

PID=""
cleanup() {
    if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    if [[ "$PROCS" -gt 1 ]]; then cluster stop >/dev/null 2>&1 || true; fi
    psql "$DIRECT/postgres" -qc "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "scratch database $DB (scale 0.02)"
psql "$DIRECT/postgres" -qc "CREATE DATABASE \"$DB\"" >/dev/null
"$BIN" migrate --direct-database-url "$DIRECT/$DB" >"$OUT/seed.log" 2>&1
"$BIN" seed --scale 0.02 --direct-database-url "$DIRECT/$DB" >>"$OUT/seed.log" 2>&1

# The flags of every process (one, or each of the cluster's), as `serve` reads them.
export RUST_LOG=${RUST_LOG:-warn,brisk=info}
export BRISK_DATABASE_URL="$BOUNCER/$DB" BRISK_DIRECT_DATABASE_URL="$DIRECT/$DB"
export BRISK_REDIS_PREFIX="st-$$-$(date +%s)" BRISK_RATE_LIMIT_SCALE=100000
export BRISK_ACCESS_LOG=false BRISK_RATE_LIMIT_AUTH_FAILURES="1000000 per minute"

if [[ "$PROCS" -gt 1 ]]; then
    # The document from process 1's operations listener; every request through nginx.
    cluster start >"$OUT/cluster.log" 2>&1 || { log "the cluster did not start"; cat "$OUT/cluster.log" >&2; exit 1; }
    BASE="http://127.0.0.1:$CLUSTER_PORT"
    SPEC="http://127.0.0.1:$((CLUSTER_OPS_PORT + 1))/openapi.json"
    log "$PROCS processes behind nginx on $BASE"
else
    rm -f "$OUT/brisk.log"
    "$BIN" serve --bind 127.0.0.1:0 --workers 2 >"$OUT/brisk.log" 2>&1 &
    PID=$!

    # The port is in the start-up line ("brisk listening on 127.0.0.1:PORT ...").
    BASE=""
    deadline=$((SECONDS + 60))
    while [[ -z "$BASE" ]]; do
        if ! kill -0 "$PID" 2>/dev/null; then
            log "brisk exited; see $OUT/brisk.log"
            tail -20 "$OUT/brisk.log" >&2
            exit 1
        fi
        ((SECONDS < deadline)) || { log "brisk did not start within 60 s"; exit 1; }
        port=$(grep -soE 'listening on [0-9.]+:[0-9]+' "$OUT/brisk.log" | head -1 | sed 's/.*://' || true)
        if [[ -n "$port" ]] && curl -fsS -o /dev/null "http://127.0.0.1:$port/health"; then
            BASE="http://127.0.0.1:$port"
        else
            sleep 0.2
        fi
    done
    SPEC="$BASE/openapi.json"
fi
log "brisk on $BASE; schemathesis $VERSION, $MAX_EXAMPLES examples per operation, phases $PHASES"

# Real ids of tenant 2 as schemathesis dictionaries: path ids and the ids in order
# bodies come from them most of the time, so the cases reach the handlers' logic (and
# not only their 404s); login tries tenant 2's real credentials half of the time, and
# the keyset form real cursors (signed by this server) half of the time.
ids() {
    psql "$DIRECT/$DB" -Atc "SELECT string_agg(id::text, ', ' ORDER BY id) FROM $1 WHERE tenant_id = 2"
}
# `next_cursor` of a few keyset pages, quoted for TOML.
cursors() {
    local cursor="" list=()
    for _ in 1 2 3 4 5; do
        cursor=$(curl -fsS -H "Authorization: Bearer demo-key-2" \
            "$BASE/api/orders?limit=3&fields=id&cursor=$cursor" |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["next_cursor"] or "")')
        [[ -n "$cursor" ]] && list+=("\"$cursor\"")
    done
    (IFS=,; echo "${list[*]}")
}
CONFIG="$OUT/schemathesis.toml"
cat >"$CONFIG" <<TOML
[dictionaries.product_ids]
values = [$(ids products)]
[dictionaries.order_ids]
values = [$(ids orders)]
[dictionaries.customer_ids]
values = [$(ids customers)]
[dictionaries.cursors]
values = [$(cursors)]
TOML
cat >>"$CONFIG" <<'TOML'
# Every run starts from nothing: no crashes replayed from an earlier run.
[cache]
enabled = false

[dictionaries.emails]
values = ["admin@tenant2.example"]
[dictionaries.passwords]
values = ["password"]
# Hostile values mixed into every generated string and integer (API.md, Hostile input).
[dictionaries.hostile_strings]
values = ["\u0000", "a\u0000b", "%00", "%", "_", "\\", "'", "\"", "\ufeff", "\u202e", "\U0001f980", " ", "\t\n", "{}", "null"]
[dictionaries.hostile_integers]
values = [0, -1, 1, 2147483647, 2147483648, -2147483649, 1000000000, 1000000001, 1000000, 1000001, 9223372036854775807, -9223372036854775808]

# Strings only where they are data (query and body): a control character in a header
# value is refused by the HTTP layer before routing, with a bare 400 (API.md allows it).
[parameters]
"query.q" = { dictionary = "hostile_strings", probability = 0.2 }
"query.cursor" = { dictionary = "hostile_strings", probability = 0.2 }
"body.name" = { dictionary = "hostile_strings", probability = 0.2 }

[generation.dictionaries]
integer = { dictionary = "hostile_integers", probability = 0.1 }

[[operations]]
include-path-regex = "^/api/products/[{]id[}]"
parameters = { "path.id" = { dictionary = "product_ids", probability = 0.8 } }

[[operations]]
include-path = "/api/orders"
include-method = "GET"
parameters = { "query.cursor" = { dictionary = "cursors", probability = 0.5 } }

[[operations]]
include-path = "/api/orders/{id}"
parameters = { "path.id" = { dictionary = "order_ids", probability = 0.8 } }

[[operations]]
include-path = "/api/orders"
include-method = "POST"
parameters = { "body.customer_id" = { dictionary = "customer_ids", probability = 0.8 }, "body.items[*].product_id" = { dictionary = "product_ids", probability = 0.97 } }

[[operations]]
include-path = "/api/login"
parameters = { "body.email" = { dictionary = "emails", probability = 0.5 }, "body.password" = { dictionary = "passwords", probability = 0.5 } }
TOML

SEED_ARGS=()
[[ "$SEED" == random ]] || SEED_ARGS=(--seed "$SEED")
# Through nginx, the operations endpoints are not public (they live on each process's
# private operations listener, DEPLOY.md; nginx answers them 404 as JSON, which
# tests/cluster/contract.rs checks): the document still lists them, so the run through
# nginx leaves them out. The run against one process fuzzes them.
SCOPE_ARGS=()
[[ "$PROCS" -gt 1 ]] && SCOPE_ARGS=(--exclude-path-regex '^/(docs|metrics|openapi\.json|ready|dashboard)')

set +e
HYPOTHESIS_STORAGE_DIRECTORY="$OUT/hypothesis" "$VENV/bin/schemathesis" --config-file "$CONFIG" run "$SPEC" --url "$BASE" \
    --checks "$CHECKS" \
    --phases "$PHASES" \
    --max-examples "$MAX_EXAMPLES" \
    "${SEED_ARGS[@]}" \
    "${SCOPE_ARGS[@]}" \
    --workers 1 \
    --request-timeout 30 \
    --header "Authorization: Bearer demo-key-2" \
    --suppress-health-check all \
    --generation-database none \
    --continue-on-failure \
    --generation-with-security-parameters false \
    --report junit,ndjson \
    --report-junit-path "$OUT/junit.xml" \
    --report-ndjson-path "$OUT/events.ndjson" \
    --no-color 2>&1 | tee "$OUT/output.log"
status=${PIPESTATUS[0]}
set -e

# The numbers, from schemathesis's event log: operations, test cases, checks.
"$VENV/bin/python" - "$OUT/events.ndjson" "$status" <<'PY' || true
import json, sys
operations, cases, checks, failed = set(), 0, 0, 0
for line in open(sys.argv[1], encoding="utf-8"):
    finished = json.loads(line).get("ScenarioFinished")
    if not finished:
        continue
    recorder = finished["recorder"]
    operations.add(recorder["label"])
    cases += len(recorder.get("cases", {}))
    for results in recorder.get("checks", {}).values():
        checks += len(results)
        failed += sum(1 for r in results if r["status"] != "success")
verdict = "passed" if sys.argv[2] == "0" else f"FAILED (exit {sys.argv[2]})"
print(f"schemathesis: {verdict}: {len(operations)} operations, {cases} test cases, "
      f"{checks} checks, {failed} failed checks")
PY
if [[ $status -ne 0 ]]; then
    log "cases, reproductions and responses above and in $OUT/ (st replay needs $OUT/events.ndjson)"
fi
exit "$status"
