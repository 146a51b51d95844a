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

use std::future::Future;
use std::time::{Duration, Instant};

/// Tenant whose data the scenarios use (plan `pro`).
pub const TENANT: i64 = 2;

/// The seeded API key of tenant `n`.
pub fn key(n: i64) -> String {
    format!("demo-key-{n}")
}

/// Polls `check` every 50 ms until it is true or `timeout` passes; returns the
/// time it took, or `None` on timeout.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs a blocking closure (psql, process control) off the async workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("a blocking helper panicked")
}
