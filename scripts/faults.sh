#!/usr/bin/env bash
# The fault suite (`make faults`, issue 10): every scenario of tests/faults runs the
# release binary as a child process under load, injects its fault and checks its
# pass line. One row per scenario goes to target/faults/report.md; the exit status
# is non-zero when any pass line failed. Scenarios run one at a time: each starts
# its own servers and they share PostgreSQL's connection budget.
#   scripts/faults.sh                 # every scenario
#   scripts/faults.sh s04 s05         # scenarios whose test name contains s04 or s05
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rm -rf target/faults
mkdir -p target/faults
log=target/faults/output.log
start=$SECONDS
# fault-injection: the trigger of scenario 15 (BRISK_FAULT_PANIC_ONCE), compiled only here.
cargo test --release --features fault-injection --test faults -- --ignored --test-threads=1 "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
{
    echo
    echo "Run: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) cores, $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s; command: scripts/faults.sh $*"
} >>target/faults/report.md
echo "report: target/faults/report.md"
grep -E '^test result:' "$log" | tail -n 1
exit "$status"
