//! The suite's own tools: SQL checks on scratch databases, the load generator, the
//! server's sockets and the report. Processes, templates, raw sockets and the
//! Prometheus reader come from `brisk-testkit`, shared with `tests/api`.
//! Kept black-box: nothing here links brisk's library, only its binary and its
//! HTTP and SQL surfaces.

pub mod db;
pub mod load;
pub mod report;
pub mod sockets;

/// Tenant whose data the scenarios use (plan `pro`).
pub const TENANT: i64 = 2;

/// The seeded API key of tenant `n`.
pub fn key(n: i64) -> String {
    format!("demo-key-{n}")
}

/// The brisk binary under test: `cargo test --release` builds the release one.
pub fn brisk_bin() -> &'static str {
    env!("CARGO_BIN_EXE_brisk")
}

/// Runs a blocking closure (psql, process control) off the async workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("a blocking helper panicked")
}
