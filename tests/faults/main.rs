//! The fault suite (issue 10): real processes under load, one scenario per fault.
//!
//! Each scenario starts the `brisk` binary as a child process on a fresh scratch
//! database (and, where it breaks them, its own Redis or PgBouncer), drives load
//! from a Rust client for a bounded time, injects the fault, checks its pass line
//! and writes one row of `target/faults/report.md`.
//!
//! Every scenario is `#[ignore]`d: `cargo test --tests` (scripts/test.sh) builds
//! this target but never runs it. `make faults` (scripts/faults.sh) runs it:
//! `cargo test --release --test faults -- --ignored --test-threads=1`; one
//! scenario alone: `... -- --ignored --exact s13_...`.

mod harness;
mod scenarios;
