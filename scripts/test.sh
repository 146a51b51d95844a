#!/usr/bin/env bash
# Runs every test (unit, API, browser), then schemathesis against a real server
# (scripts/schemathesis.sh, counted as one more test), and closes with one summary
# line, "N passed, N failed, N skipped", summed over all test binaries and schemathesis
# (skipped: the ignored tests, i.e. the fault scenarios that `make faults` runs).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p target
log=target/test-output.log
# The examples first: tests/api/hello_kit.rs runs one as its own process.
if ! cargo build --workspace --examples --quiet; then
    echo "0 passed, 1 failed"
    exit 1
fi
cargo test --workspace --lib --bins --tests --examples --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The API fuzzed against its own OpenAPI document; its numbers line is printed above.
if scripts/schemathesis.sh; then
    echo "test result: ok. 1 passed; 0 failed (schemathesis)" >>"$log"
else
    echo "test result: FAILED. 0 passed; 1 failed (schemathesis)" >>"$log"
    status=1
fi
awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i+1) ~ /^passed/) p += $i
            if ($(i+1) ~ /^failed/) f += $i
            if ($(i+1) ~ /^ignored/) s += $i
        }
     }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
