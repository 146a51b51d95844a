//! Measurement: per-route latency (p50/p95/p99), status classes, statements per request,
//! in-flight requests, cache and limiter outcomes and pool gauges, all held by one
//! `Metrics` handle built once per process and shared by every worker; rendered at
//! `/metrics` (Prometheus text) and on the live page `/dashboard`. The outermost
//! middleware (`RequestMetrics`) feeds it and writes the access log.
//!
//! Cache and limiter code record outcomes through `Metrics::cache` / `Metrics::limiter`;
//! pools register a `PoolGauges` provider at start-up with `Metrics::register_pool`.
//! Nothing here holds a lock across an `.await`.

pub mod events;
pub mod handlers;
pub mod histogram;
pub mod history;
pub mod logging;
pub mod middleware;
pub mod pool;
pub mod prometheus;
pub mod routes;

pub use events::{CacheEvent, InFlight, LimiterEvent, Metrics};
pub use handlers::endpoints;
pub use middleware::{AccessLogSettings, ClientAddrFn, LoggedBody, RequestId, RequestMetrics};
pub use pool::{Bb8Pool, PoolGauges, PoolSample};
pub use routes::{Observation, UNMATCHED};
