//! The cluster (issue 16): two `brisk serve` OS processes (the built binary) on one
//! fresh database and one Redis key prefix, behind an nginx of their own rendered from
//! `deploy/nginx.conf`, as `make cluster` runs them. Each test proves one cross-process
//! promise through the proxy, counted from outside: HTTP statuses, PostgreSQL's own
//! statistics, the processes' `/metrics`.
//!
//! Every test is `#[ignore]`d: `cargo test --tests` (scripts/test.sh) builds this
//! target but never runs it (it needs nginx). `make test-cluster`
//! (scripts/test-cluster.sh) installs nginx and runs it:
//! `cargo test --release --test cluster -- --ignored --test-threads=1`.

mod contract;
mod harness;
mod limits;
mod processes;
mod stampede;
