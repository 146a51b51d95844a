//! Measurement: per-route latency (p50/p95/p99), status classes, statements per request,
//! in-flight requests, cache and limiter outcomes and pool gauges, all held by one
//! `Metrics` handle built once per process and shared by every worker; rendered at
//! `/metrics` (Prometheus text) and on the live page `/dashboard`. The measuring
//! middleware (`RequestMetrics`, outside all the others but the slow-client
//! deadlines) feeds it and writes the access log.
//!
//! The statement counter ([`RequestStatements`]) lives here: the database layer's Diesel
//! instrumentation charges statements to it, the middleware reads it. Settings are
//! [`MetricsConfig`] with its defaults; `config/metrics.rs` builds it from the flags.
//!
//! Cache and limiter code record outcomes through `Metrics::cache` / `Metrics::limiter`;
//! pools register a `PoolGauges` provider at start-up with `Metrics::register_pool`.
//! Nothing here holds a lock across an `.await`.

/// The access log's writer thread: buffered, bounded, never blocking a request.
pub mod access_writer;
/// The live page's points and `/dashboard/data.json`.
pub mod dashboard;
/// The `Metrics` handle: counters, routes, gauges.
pub mod events;
/// Reading the Prometheus text format back (for deployment checks).
pub mod exposition;
/// `/metrics` and the live page's endpoints.
pub mod handlers;
/// Percentile math over HDR histograms.
pub mod histogram;
/// The live page's ring of per-interval points.
pub mod history;
/// Which request a log line belongs to (request id, trace id).
pub mod log_context;
/// env_logger set-up, text or JSON lines.
pub mod logging;
/// Request id, timing, access log and per-route recording.
pub mod middleware;
/// The cache and limiter outcome enums.
pub mod outcomes;
/// Values kept per recording thread, summed when read.
pub mod per_thread;
/// Pool gauges providers.
pub mod pool;
/// The Prometheus text exposition.
/// The standard `process_*` metrics, read from `/proc`.
mod process;
pub mod prometheus;
/// Per (route pattern, method) statistics.
pub mod routes;
/// The subsystem's settings and their defaults.
pub mod settings;
/// One process's histograms for the cluster's live page, and their merge.
pub mod snapshot;
/// Statements per request (the task-local counter).
pub mod statements;

pub use events::{InFlight, Metrics};
pub use handlers::endpoints;
pub use middleware::{ClientAddrFn, LoggedBody, RequestId, RequestMetrics};
pub use outcomes::{CacheEvent, CacheKind, InvalidationOutcome, LimiterEvent};
pub use pool::{Bb8Pool, PoolGauges, PoolSample};
pub use routes::{Observation, UNMATCHED};
pub use settings::{AccessLogSettings, MetricsConfig};
pub use statements::RequestStatements;
