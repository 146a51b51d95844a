//! The cluster (issue 16): two `brisk serve` OS processes (the built binary) on one
//! fresh database and one Redis key prefix, behind an nginx of their own rendered from
//! `deploy/nginx.conf`, as `make cluster` runs them. Each test proves one cross-process
//! promise through the proxy, counted from outside: HTTP statuses, PostgreSQL's own
//! statistics, the processes' `/metrics`.
//!
//! Every test is `#[ignore]`d: `cargo test --tests` (scripts/test.sh) builds this
//! target but never runs it (it needs nginx and chromium). `make test-cluster`
//! (scripts/test-cluster.sh) installs them and runs it:
//! `cargo test --release --test cluster -- --ignored --test-threads=1`, on the one
//! Redis; `make test-cluster REDIS=cluster` runs it again with the processes on the
//! local Redis Cluster (`BRISK_TEST_REDIS_CLUSTER` holds its seeds), the failover
//! test (`failover.rs`, a master SIGKILLed) included: it runs there only.

mod contract;
mod failover;
mod harness;
mod limits;
mod live;
mod processes;
mod redis_nodes;
mod stampede;
