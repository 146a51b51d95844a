//! The Prometheus text exposition (format 0.0.4) of [`Metrics`], written by hand.
//! Names follow the conventions: `brisk_` prefix, base units (`_seconds`), `_total` on
//! counters, one `# HELP`/`# TYPE` per family, escaped label values.
//!
//! Why not the `prometheus-client` crate: its registry holds its own metric types
//! (counters, gauges, bucketed histograms) and has no summary, while our latency
//! quantiles come from HDR histograms that already live in [`super::routes`]; and its
//! encoder writes OpenMetrics (`# EOF`, `# UNIT`, the `application/openmetrics-text`
//! type), not the 0.0.4 text `/metrics` serves and its scrapers parse. Carrying the
//! quantiles through it would mean a second copy of every series re-registered per
//! scrape, and a different output. The text format is small: one writer per family
//! below, one for a histogram series, and a golden test (`testdata/exposition.prom`)
//! that holds the bytes steady. The crate was removed from the dependencies.

use super::events::Metrics;
use super::histogram::cumulative_buckets;
use super::outcomes::{CacheEvent, CacheKind, InvalidationOutcome, LimiterEvent};
use super::pool::PoolSample;
use super::routes::{RouteStats, SIZE_BUCKETS, STATUS_CLASSES};
use crate::redis::timing::{KindSnapshot, BOUNDS_SECONDS};
use std::fmt::Write;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency bucket bounds, seconds (and the same in µs below).
const LATENCY_BUCKETS_SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Statements-per-request bucket bounds.
const STATEMENT_BUCKETS: [u64; 9] = [0, 1, 2, 3, 5, 10, 20, 50, 100];

/// Escapes a label value (backslash, double quote, newline).
pub fn escape_label(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The `# HELP` and `# TYPE` lines of a family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Reads one gauge of a pool sample (`None`: the pool cannot tell).
type PoolReading = fn(&PoolSample) -> Option<u64>;

/// The pool gauges: name, help, reading.
const POOL_GAUGES: [(&str, &str, PoolReading); 5] = [
    (
        "brisk_pool_max_connections",
        "Configured maximum connections of the pool.",
        |s| Some(s.max_size),
    ),
    (
        "brisk_pool_connections",
        "Open connections of the pool.",
        |s| Some(s.connections),
    ),
    (
        "brisk_pool_idle_connections",
        "Open connections not checked out.",
        |s| Some(s.idle),
    ),
    (
        "brisk_pool_in_use_connections",
        "Connections checked out by requests.",
        |s| Some(s.in_use()),
    ),
    (
        "brisk_pool_waiting",
        "Callers waiting for a connection.",
        |s| s.waiting,
    ),
];

/// What one (route, method) contributes, read under its lock once.
struct RouteRow {
    labels: String,
    status: [u64; 5],
    count: u64,
    latency_sum: f64,
    latency_buckets: Vec<u64>,
    statements_buckets: Vec<u64>,
    statements_sum: u64,
    db_seconds: f64,
    redis_seconds: f64,
    size_buckets: Vec<u64>,
    bytes_out: u64,
    compression: (u64, u64),
}

impl RouteRow {
    /// Reads `stats` of (`route`, `method`); `latency_bounds_us` are the bucket bounds.
    fn read(route: &str, method: &str, stats: &RouteStats, latency_bounds_us: &[u64]) -> Self {
        let (count, latency_buckets, statements_buckets) = {
            let h = stats.hists();
            (
                h.latency.len(),
                cumulative_buckets(&h.latency, latency_bounds_us),
                cumulative_buckets(&h.statements, &STATEMENT_BUCKETS),
            )
        };
        RouteRow {
            labels: format!("method=\"{method}\",route=\"{}\"", escape_label(route)),
            status: stats.status_counts(),
            count,
            latency_sum: stats.latency_sum().as_secs_f64(),
            latency_buckets,
            statements_buckets,
            statements_sum: stats.statements_sum(),
            db_seconds: stats.db_time().as_secs_f64(),
            redis_seconds: stats.redis_time().as_secs_f64(),
            size_buckets: stats.sizes().0,
            bytes_out: stats.sizes().1,
            compression: stats.compression(),
        }
    }
}

impl Metrics {
    /// Renders every metric in the Prometheus text format.
    pub fn render_prometheus(&self) -> String {
        let rows = self.route_rows();
        let mut out = String::with_capacity(4096 + rows.len() * 2048);
        write_requests(&mut out, &rows);
        write_durations(&mut out, &rows);
        write_statement_histograms(&mut out, &rows);
        write_db_seconds(&mut out, &rows);
        write_costs(&mut out, &rows);
        self.write_in_flight(&mut out);
        self.write_outcomes(&mut out);
        write_pools(&mut out, &self.pool_samples());
        write_redis(&mut out, &self.redis_timings());
        write_info(&mut out, self.info_labels());
        write_limits(&mut out, self.limit_series());
        self.write_actor_restarts(&mut out);
        write_access_log_dropped(&mut out);
        write_process(
            &mut out,
            &super::process::samples(self.inner.started_unix_ms),
        );
        out
    }

    /// Every (route, method) seen, sorted, each read once.
    fn route_rows(&self) -> Vec<RouteRow> {
        let latency_bounds_us: Vec<u64> = LATENCY_BUCKETS_SECONDS
            .iter()
            .map(|s| (s * 1e6).round() as u64)
            .collect();
        let mut rows = Vec::new();
        self.for_each_route(|route, method, stats| {
            rows.push(RouteRow::read(route, method, stats, &latency_bounds_us));
        });
        rows
    }

    /// `brisk_http_requests_in_flight`.
    fn write_in_flight(&self, out: &mut String) {
        family(
            out,
            "brisk_http_requests_in_flight",
            "gauge",
            "Requests being handled now.",
        );
        let _ = writeln!(out, "brisk_http_requests_in_flight {}", self.in_flight());
    }

    /// The cache and rate-limiter outcome counters.
    fn write_outcomes(&self, out: &mut String) {
        family(
            out,
            "brisk_cache_events_total",
            "counter",
            "Cache outcomes (hit, stale, miss, coalesced, error, refresh_error) by kind of entry: view, memo, invalidation (error only).",
        );
        for kind in CacheKind::ALL {
            for e in CacheEvent::ALL {
                if kind == CacheKind::Invalidation && e != CacheEvent::Error {
                    continue;
                }
                let n = self.cache_count_of(kind, e);
                let (kind, name) = (kind.as_str(), e.as_str());
                let _ = writeln!(
                    out,
                    "brisk_cache_events_total{{kind=\"{kind}\",outcome=\"{name}\"}} {n}"
                );
            }
        }
        family(
            out,
            "brisk_cache_invalidations_total",
            "counter",
            "Invalidations (generation bumps after writes): applied, deferred to the retrier, retried, dropped.",
        );
        for o in InvalidationOutcome::ALL {
            let (name, n) = (o.as_str(), self.invalidation_count(o));
            let _ = writeln!(
                out,
                "brisk_cache_invalidations_total{{outcome=\"{name}\"}} {n}"
            );
        }
        family(
            out,
            "brisk_ratelimit_decisions_total",
            "counter",
            "Rate-limiter outcomes: allowed, rejected, decided_without_store, store_error.",
        );
        for e in LimiterEvent::ALL {
            let (name, n) = (e.as_str(), self.limiter_count(e));
            let _ = writeln!(
                out,
                "brisk_ratelimit_decisions_total{{outcome=\"{name}\"}} {n}"
            );
        }
    }

    /// `brisk_actor_restarts_total`, when a supervised background actor is declared.
    fn write_actor_restarts(&self, out: &mut String) {
        let actors = self.actor_restart_counts();
        if actors.is_empty() {
            return;
        }
        family(
            out,
            "brisk_actor_restarts_total",
            "counter",
            "Background actors restarted by their supervisor after a round panicked.",
        );
        for (actor, n) in actors {
            let actor = escape_label(actor);
            let _ = writeln!(out, "brisk_actor_restarts_total{{actor=\"{actor}\"}} {n}");
        }
    }
}

/// `brisk_access_log_dropped_total`: lines the access log's writer could not take.
fn write_access_log_dropped(out: &mut String) {
    const NAME: &str = "brisk_access_log_dropped_total";
    family(
        out,
        NAME,
        "counter",
        "Access-log lines dropped because the writer could not keep up.",
    );
    let n = crate::metrics::access_writer::dropped_total();
    let _ = writeln!(out, "{NAME} {n}");
}

/// `brisk_http_requests_total` by status class (classes without requests left out).
fn write_requests(out: &mut String, rows: &[RouteRow]) {
    family(
        out,
        "brisk_http_requests_total",
        "counter",
        "HTTP requests by route pattern, method and status class.",
    );
    for r in rows {
        for (class, n) in STATUS_CLASSES.iter().zip(r.status) {
            if n > 0 {
                let labels = &r.labels;
                let _ = writeln!(
                    out,
                    "brisk_http_requests_total{{{labels},status=\"{class}\"}} {n}"
                );
            }
        }
    }
}

/// Request durations in buckets: one histogram per (route, method), which adds up
/// across processes (quantiles since start would not, and would flatten over time).
fn write_durations(out: &mut String, rows: &[RouteRow]) {
    const NAME: &str = "brisk_http_request_duration_seconds";
    family(
        out,
        NAME,
        "histogram",
        "Time from the request's arrival to the end of its response body.",
    );
    for r in rows {
        let buckets = LATENCY_BUCKETS_SECONDS.iter().zip(&r.latency_buckets);
        histogram_series(out, NAME, &r.labels, buckets, r.latency_sum, r.count);
    }
}

/// Statements per request in buckets.
fn write_statement_histograms(out: &mut String, rows: &[RouteRow]) {
    const NAME: &str = "brisk_http_request_statements";
    family(
        out,
        NAME,
        "histogram",
        "SQL statements per request (transaction control excluded).",
    );
    for r in rows {
        let buckets = STATEMENT_BUCKETS.iter().zip(&r.statements_buckets);
        histogram_series(out, NAME, &r.labels, buckets, r.statements_sum, r.count);
    }
}

/// Time in SQL, summed per route.
fn write_db_seconds(out: &mut String, rows: &[RouteRow]) {
    const NAME: &str = "brisk_http_request_db_seconds_total";
    family(
        out,
        NAME,
        "counter",
        "Time spent in SQL statements, summed over requests.",
    );
    for r in rows {
        let _ = writeln!(out, "{NAME}{{{}}} {}", r.labels, r.db_seconds);
    }
}

/// Time in Redis, response sizes, and bytes before and after compression, per route.
fn write_costs(out: &mut String, rows: &[RouteRow]) {
    const REDIS: &str = "brisk_http_request_redis_seconds_total";
    family(
        out,
        REDIS,
        "counter",
        "Time spent waiting on Redis commands, summed over requests.",
    );
    for r in rows {
        let _ = writeln!(out, "{REDIS}{{{}}} {}", r.labels, r.redis_seconds);
    }
    const SIZE: &str = "brisk_http_response_size_bytes";
    family(
        out,
        SIZE,
        "histogram",
        "Response body bytes sent (after compression).",
    );
    for r in rows {
        let buckets = SIZE_BUCKETS.iter().zip(&r.size_buckets);
        histogram_series(out, SIZE, &r.labels, buckets, r.bytes_out, r.count);
    }
    const COMPRESSION: &str = "brisk_http_response_compression_bytes_total";
    family(
        out,
        COMPRESSION,
        "counter",
        "Body bytes of the responses whose size was known, before and after compression.",
    );
    for r in rows {
        let (before, after) = r.compression;
        let _ = writeln!(
            out,
            "{COMPRESSION}{{{},stage=\"before\"}} {before}",
            r.labels
        );
        let _ = writeln!(out, "{COMPRESSION}{{{},stage=\"after\"}} {after}", r.labels);
    }
}

/// The pool gauges and acquire timeouts, when a pool is registered.
fn write_pools(out: &mut String, pools: &[(String, PoolSample)]) {
    if pools.is_empty() {
        return;
    }
    for (name, help, read) in POOL_GAUGES {
        family(out, name, "gauge", help);
        for (pool, s) in pools {
            if let Some(v) = read(s) {
                let _ = writeln!(out, "{name}{{pool=\"{}\"}} {v}", escape_label(pool));
            }
        }
    }
    const TIMEOUTS: &str = "brisk_pool_acquire_timeouts_total";
    family(
        out,
        TIMEOUTS,
        "counter",
        "Check-outs that gave up waiting for a connection.",
    );
    for (pool, s) in pools {
        if let Some(v) = s.acquire_timeouts {
            let _ = writeln!(out, "{TIMEOUTS}{{pool=\"{}\"}} {v}", escape_label(pool));
        }
    }
}

/// `brisk_config_info`: the settings this process runs with, as labels of a 1.
fn write_info(out: &mut String, labels: &[(&'static str, String)]) {
    if labels.is_empty() {
        return;
    }
    family(
        out,
        "brisk_config_info",
        "gauge",
        "The settings this process runs with (labels); always 1.",
    );
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    let _ = writeln!(out, "brisk_config_info{{{}}} 1", labels.join(","));
}

/// `brisk_ratelimit_limit_info`: one series per limit in force, when described.
fn write_limits(out: &mut String, series: &[Vec<(&'static str, String)>]) {
    const NAME: &str = "brisk_ratelimit_limit_info";
    if series.is_empty() {
        return;
    }
    family(
        out,
        NAME,
        "gauge",
        "The rate limits in force (labels: kind plan, route, auth_failures or exempt; the plan or route; the rate; whose bucket); always 1.",
    );
    for labels in series {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
            .collect();
        let _ = writeln!(out, "{NAME}{{{}}} 1", labels.join(","));
    }
}

/// The standard `process_*` families, one sample each.
fn write_process(out: &mut String, samples: &[super::process::ProcessSample]) {
    for &(name, kind, help, value) in samples {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
}

/// Redis command durations by kind, when the Redis handle is registered.
fn write_redis(out: &mut String, kinds: &[KindSnapshot]) {
    const NAME: &str = "brisk_redis_command_duration_seconds";
    if kinds.is_empty() {
        return;
    }
    family(
        out,
        NAME,
        "histogram",
        "Redis commands from the call to the answer (or to the caller's timeout), by kind.",
    );
    for k in kinds {
        let labels = format!("command=\"{}\"", k.kind);
        let buckets = BOUNDS_SECONDS.iter().zip(&k.cumulative);
        histogram_series(out, NAME, &labels, buckets, k.sum_seconds, k.count);
    }
}

/// One labelled series of a Prometheus histogram: cumulative buckets, `+Inf`, sum, count.
fn histogram_series<'a, B: std::fmt::Display + 'a>(
    out: &mut String,
    name: &str,
    labels: &str,
    buckets: impl Iterator<Item = (B, &'a u64)>,
    sum: impl std::fmt::Display,
    count: u64,
) {
    for (le, n) in buckets {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
    let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
