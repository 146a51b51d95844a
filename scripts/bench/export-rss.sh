#!/usr/bin/env bash
# scripts/bench/export-rss.sh BIN [DB]: fault scenario 14's memory check outside the fault
# suite, for comparing builds (allocators): one server of BIN on DB (default
# brisk_faults_scale20, which `make faults` seeds), RSS read every 50 ms from /health's
# answer to the end of one streamed GET /api/export.csv of tenant 1; prints the growth.
set -euo pipefail
BIN=$1; DB=${2:-brisk_faults_scale20}; PORT=${PORT:-18380}
export BRISK_DATABASE_URL=postgres://root@127.0.0.1:6432/$DB BRISK_REDIS_PREFIX="rss-$(date +%s)-$$"
RUST_LOG=warn "$BIN" serve --bind "127.0.0.1:$PORT" --workers 2 --access-log false \
  --rate-limit-scale 100000 --rate-limit-export "1000 per day" >"${TMPDIR:-/tmp}/export-rss.log" 2>&1 &
PID=$!
trap 'kill $PID' EXIT
until curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health"; do sleep 0.2; done
rss() { awk '/VmRSS/{print $2}' "/proc/$PID/status"; }
before=$(rss); peak=$before
OUTFILE=$(mktemp)
curl -sS -o "$OUTFILE" -H "Authorization: Bearer demo-key-1" "http://127.0.0.1:$PORT/api/export.csv" &
C=$!
while kill -0 $C 2>/dev/null; do r=$(rss); ((r > peak)) && peak=$r; sleep 0.05; done
wait $C
echo "$(basename "$BIN"): RSS before $((before / 1024)) MiB, peak $((peak / 1024)) MiB, growth $(((peak - before) / 1024)) MiB; $(wc -l <"$OUTFILE") lines"
rm -f "$OUTFILE"
