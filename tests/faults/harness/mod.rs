//! The suite's tools: child processes (brisk, Redis, PgBouncer), scratch
//! databases and SQL checks, the load generator, raw sockets, and the report.
//! Kept black-box: nothing here links brisk's library, only its binary and its
//! HTTP and SQL surfaces.

pub mod db;
pub mod load;
pub mod procs;
pub mod raw;
pub mod report;
pub mod sockets;

/// Tenant whose data the scenarios use (plan `pro`).
pub const TENANT: i64 = 2;

/// The seeded API key of tenant `n`.
pub fn key(n: i64) -> String {
    format!("demo-key-{n}")
}

/// Runs a blocking closure (psql, process control) off the async workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("a blocking helper panicked")
}
