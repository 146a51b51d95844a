//! Measurement: per-route latency (p50/p95/p99), status classes, statements per request,
//! in-flight requests, cache and limiter outcomes and pool gauges, all held by one
//! `Metrics` handle built once per process and shared by every worker; rendered at
//! `/metrics` (Prometheus text) and on the live page `/dashboard`. The outermost
//! middleware (`RequestMetrics`) feeds it and writes the access log.
//!
//! Cache and limiter code record outcomes through `Metrics::cache` / `Metrics::limiter`;
//! pools register a `PoolGauges` provider at start-up with `Metrics::register_pool`.
//! Nothing here holds a lock across an `.await`.

/// The `Metrics` handle and the cache/limiter outcome counters.
pub mod events;
/// `/metrics` and the live page's endpoints.
pub mod handlers;
/// Percentile math over HDR histograms.
pub mod histogram;
/// The live page's per-interval history and JSON.
pub mod history;
/// env_logger set-up, text or JSON lines.
pub mod logging;
/// Request id, timing, access log and per-route recording.
pub mod middleware;
/// Pool gauges providers.
pub mod pool;
/// The Prometheus text exposition.
pub mod prometheus;
/// Per (route pattern, method) statistics.
pub mod routes;

pub use events::{CacheEvent, InFlight, LimiterEvent, Metrics};
pub use handlers::endpoints;
pub use middleware::{AccessLogSettings, ClientAddrFn, LoggedBody, RequestId, RequestMetrics};
pub use pool::{Bb8Pool, PoolGauges, PoolSample};
pub use routes::{Observation, UNMATCHED};
