#!/usr/bin/env bash
# `scripts/callgrind.sh BIN PATH [KEY] [N]`: instructions per request of the brisk
# binary BIN serving GET PATH (with `Authorization: Bearer KEY` when given), counted
# by valgrind's callgrind over N keep-alive requests (default 2000) after 50 warm-up
# requests, one worker. Instruction counts do not move with the machine's other load
# (unlike req/s or CPU time), so two builds compare exactly, even with other work
# running. Prints one line; the profile is kept in target/callgrind/ for
# `callgrind_annotate` (e.g. `--tree=caller` to see who calls memcpy).
# Needs the bench data (`make bench` or `make bench-compare` seeds it) and `make services`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 path=$2 key=${3:-} n=${4:-2000}
out=target/callgrind
mkdir -p "$out"
name="$(basename "$bin")-$(echo "$path" | tr -c 'a-zA-Z0-9\n' '_')"
port=${CALLGRIND_PORT:-18181}
base="http://127.0.0.1:$port"
auth=()
[[ -n "$key" ]] && auth=(-H "Authorization: Bearer $key")
rm -f "$out/$name".out*
BRISK_DATABASE_URL=${BRISK_DATABASE_URL:-postgres://root@127.0.0.1:6432/brisk} RUST_LOG=warn \
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/$name.out" \
  "$bin" serve --bind "127.0.0.1:$port" --workers 1 --access-log false \
  --rate-limit-scale 100000 --redis-prefix "callgrind-$$" >"$out/$name.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
deadline=$((SECONDS + 120))
until curl -fsS -o /dev/null "$base/health" 2>/dev/null; do
  kill -0 $pid 2>/dev/null || { echo "callgrind: brisk exited, see $out/$name.log" >&2; exit 1; }
  ((SECONDS < deadline)) || { echo "callgrind: brisk not up after 120 s" >&2; exit 1; }
  sleep 0.5
done
for _ in $(seq 50); do curl -fsS -o /dev/null "${auth[@]}" "$base$path"; done
callgrind_control -i on $pid >/dev/null
# One curl, one keep-alive connection, N requests.
mapfile -t urls < <(for _ in $(seq "$n"); do echo "$base$path"; done)
curl -fsS "${auth[@]}" "${urls[@]}" >/dev/null
callgrind_control -i off $pid >/dev/null
callgrind_control -d $pid >/dev/null
kill -TERM $pid; wait $pid 2>/dev/null || true
trap - EXIT
profile=$(ls -S "$out/$name".out* | head -1)
total=$(callgrind_annotate "$profile" 2>/dev/null | grep "PROGRAM TOTALS" | grep -v calculated | awk '{gsub(",", "", $1); print $1}')
echo "$(basename "$bin") GET $path: $((total / n)) instructions per request ($n requests, $profile)"
