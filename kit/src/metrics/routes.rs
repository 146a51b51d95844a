//! Per (route pattern, method) statistics. An entry is created once, the first time a
//! route is seen, under a write lock; every later request takes the read lock for a
//! borrowed `&str` lookup (no allocation) and then the entry's own mutex, so requests to
//! different routes never contend and no lock is global to all requests.

use super::histogram::{latency_histogram, statements_histogram};
use super::per_thread::PerThread;
use actix_web::http::Method;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::Duration;

/// Label of requests that matched no route (404s of unknown paths): one series, never
/// the raw path.
pub const UNMATCHED: &str = "unmatched";

/// Methods get a fixed slot each; anything else shares `OTHER` (bounded cardinality).
pub const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER",
];

/// The slot of `method` in [`METHODS`].
pub fn method_slot(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// Status classes 1xx..5xx; anything else counts as 5xx (it is a server bug).
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn status_class(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

/// What one finished request contributes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observation {
    /// Response status code.
    pub status: u16,
    /// From arrival to the end of the response body.
    pub elapsed: Duration,
    /// SQL statements the request ran (transaction control excluded).
    pub statements: u64,
    /// Time spent in those statements.
    pub db_time: Duration,
    /// Time spent waiting on Redis commands.
    pub redis_time: Duration,
    /// Body bytes sent (after compression).
    pub bytes_out: u64,
    /// Body bytes before compression, when the handler's body had a known size.
    pub bytes_uncompressed: Option<u64>,
}

/// Upper bounds of the response-size buckets, bytes (`brisk_http_response_size_bytes`).
pub const SIZE_BUCKETS: [u64; 7] = [1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304];

/// Histograms of one (route, method), behind one mutex per recording thread, held for a
/// few records.
#[derive(Clone)]
pub struct Hists {
    /// Latency since start (µs).
    pub latency: Histogram<u64>,
    /// Latency since the last history tick (µs); reset at each tick.
    pub interval: Histogram<u64>,
    /// Statements per request since start.
    pub statements: Histogram<u64>,
}

impl Hists {
    fn new() -> Self {
        Self {
            latency: latency_histogram(),
            interval: latency_histogram(),
            statements: statements_histogram(),
        }
    }

    fn add(&mut self, other: &Hists) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.interval.add(&other.interval);
        let _ = self.statements.add(&other.statements);
    }
}

/// What one thread recorded for one (route, method).
struct Slot {
    hists: Mutex<Hists>,
    status: [AtomicU64; 5],
    latency_sum_nanos: AtomicU64,
    statements_sum: AtomicU64,
    db_nanos: AtomicU64,
    redis_nanos: AtomicU64,
    /// Responses per size bucket (not cumulative), the last one above every bound.
    sizes: [AtomicU64; SIZE_BUCKETS.len() + 1],
    bytes_out: AtomicU64,
    /// (bytes before compression, bytes sent) of the responses whose size was known.
    sized_before: AtomicU64,
    sized_after: AtomicU64,
}

impl Slot {
    fn new() -> Self {
        Self {
            hists: Mutex::new(Hists::new()),
            status: Default::default(),
            latency_sum_nanos: AtomicU64::new(0),
            statements_sum: AtomicU64::new(0),
            db_nanos: AtomicU64::new(0),
            redis_nanos: AtomicU64::new(0),
            sizes: Default::default(),
            bytes_out: AtomicU64::new(0),
            sized_before: AtomicU64::new(0),
            sized_after: AtomicU64::new(0),
        }
    }

    fn hists(&self) -> MutexGuard<'_, Hists> {
        self.hists.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, o: &Observation) {
        let micros = o.elapsed.as_micros().min(u128::from(u64::MAX)) as u64;
        {
            let mut h = self.hists();
            h.latency.saturating_record(micros);
            h.interval.saturating_record(micros);
            h.statements.saturating_record(o.statements);
        }
        let nanos = |d: Duration| d.as_nanos().min(u128::from(u64::MAX)) as u64;
        let add = |a: &AtomicU64, n: u64| a.fetch_add(n, Ordering::Relaxed);
        add(&self.status[status_class(o.status)], 1);
        add(&self.latency_sum_nanos, nanos(o.elapsed));
        add(&self.statements_sum, o.statements);
        add(&self.db_nanos, nanos(o.db_time));
        add(&self.redis_nanos, nanos(o.redis_time));
        let bucket = SIZE_BUCKETS
            .iter()
            .position(|&b| o.bytes_out <= b)
            .unwrap_or(SIZE_BUCKETS.len());
        add(&self.sizes[bucket], 1);
        add(&self.bytes_out, o.bytes_out);
        if let Some(before) = o.bytes_uncompressed {
            add(&self.sized_before, before);
            add(&self.sized_after, o.bytes_out);
        }
    }
}

/// Statistics of one (route, method): a slot per recording thread (`per_thread`),
/// summed when read.
pub struct RouteStats {
    slots: PerThread<Slot>,
}

impl RouteStats {
    fn new() -> Self {
        Self {
            slots: PerThread::new_with(Slot::new),
        }
    }

    fn record(&self, o: &Observation) {
        self.slots.local().record(o);
    }

    fn sum(&self, field: impl Fn(&Slot) -> &AtomicU64) -> u64 {
        self.slots
            .iter()
            .map(|s| field(s).load(Ordering::Relaxed))
            .sum()
    }

    /// Sum of Redis time over all requests.
    pub fn redis_time(&self) -> Duration {
        Duration::from_nanos(self.sum(|s| &s.redis_nanos))
    }

    /// Cumulative response counts at each of [`SIZE_BUCKETS`], and the bytes sent.
    pub fn sizes(&self) -> (Vec<u64>, u64) {
        let mut running = 0;
        let cumulative = (0..SIZE_BUCKETS.len())
            .map(|i| {
                running += self.sum(|s| &s.sizes[i]);
                running
            })
            .collect();
        (cumulative, self.sum(|s| &s.bytes_out))
    }

    /// Of the responses whose size before compression was known: bytes before, bytes sent.
    pub fn compression(&self) -> (u64, u64) {
        (self.sum(|s| &s.sized_before), self.sum(|s| &s.sized_after))
    }

    /// The histograms of every thread, added up (a poisoned lock still holds valid
    /// histograms).
    pub fn hists(&self) -> Hists {
        let mut slots = self.slots.iter();
        let mut total = slots
            .next()
            .map(|s| s.hists().clone())
            .unwrap_or_else(Hists::new);
        for s in slots {
            total.add(&s.hists());
        }
        total
    }

    /// The latency since the last tick, every thread's added up; with `reset`, the
    /// next interval starts now.
    pub fn interval(&self, reset: bool) -> Histogram<u64> {
        let mut total = latency_histogram();
        for s in self.slots.iter() {
            let mut h = s.hists();
            let _ = total.add(&h.interval);
            if reset {
                h.interval.reset();
            }
        }
        total
    }

    /// Responses per status class, in [`STATUS_CLASSES`] order.
    pub fn status_counts(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.sum(|s| &s.status[i]))
    }

    /// Sum of all latencies (the Prometheus `_sum`).
    pub fn latency_sum(&self) -> Duration {
        Duration::from_nanos(self.sum(|s| &s.latency_sum_nanos))
    }

    /// Sum of statements over all requests.
    pub fn statements_sum(&self) -> u64 {
        self.sum(|s| &s.statements_sum)
    }

    /// Sum of database time over all requests.
    pub fn db_time(&self) -> Duration {
        Duration::from_nanos(self.sum(|s| &s.db_nanos))
    }
}

/// The methods seen on one route pattern.
struct RouteEntry {
    methods: [OnceLock<RouteStats>; 8],
}

/// All routes seen so far.
#[derive(Default)]
pub struct RouteRegistry {
    routes: RwLock<HashMap<Arc<str>, Arc<RouteEntry>>>,
}

impl RouteRegistry {
    /// Records one finished request under `route` (a pattern, or [`UNMATCHED`]).
    pub fn record(&self, route: &str, method_slot: usize, o: &Observation) {
        self.entry(route).methods[method_slot.min(7)]
            .get_or_init(RouteStats::new)
            .record(o);
    }

    fn entry(&self, route: &str) -> Arc<RouteEntry> {
        {
            let map = self.routes.read().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = map.get(route) {
                return Arc::clone(entry);
            }
        }
        let mut map = self.routes.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(Arc::from(route)).or_insert_with(|| {
            Arc::new(RouteEntry {
                methods: Default::default(),
            })
        }))
    }

    /// Calls `f(route, method, stats)` for every (route, method) seen, sorted by route
    /// then method, without holding the registry lock while `f` runs.
    pub fn for_each(&self, mut f: impl FnMut(&Arc<str>, &'static str, &RouteStats)) {
        let mut entries: Vec<(Arc<str>, Arc<RouteEntry>)> = {
            let map = self.routes.read().unwrap_or_else(|e| e.into_inner());
            map.iter()
                .map(|(k, v)| (Arc::clone(k), Arc::clone(v)))
                .collect()
        };
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (route, entry) in &entries {
            for (slot, stats) in entry.methods.iter().enumerate() {
                if let Some(stats) = stats.get() {
                    f(route, METHODS[slot], stats);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(status: u16, ms: u64, statements: u64) -> Observation {
        Observation {
            status,
            elapsed: Duration::from_millis(ms),
            statements,
            db_time: Duration::from_millis(ms / 2),
            ..Observation::default()
        }
    }

    #[test]
    fn requests_are_grouped_by_route_and_method_with_status_classes() {
        let reg = RouteRegistry::default();
        reg.record(
            "/v1/products/{id}",
            method_slot(&Method::GET),
            &obs(200, 4, 1),
        );
        reg.record(
            "/v1/products/{id}",
            method_slot(&Method::GET),
            &obs(404, 2, 1),
        );
        reg.record(
            "/v1/products/{id}",
            method_slot(&Method::PUT),
            &obs(200, 8, 3),
        );
        reg.record(
            UNMATCHED,
            method_slot(&Method::from_bytes(b"BREW").unwrap()),
            &obs(404, 1, 0),
        );
        let mut seen = vec![];
        reg.for_each(|route, method, stats| {
            seen.push((
                route.to_string(),
                method,
                stats.status_counts(),
                stats.statements_sum(),
            ))
        });
        assert_eq!(
            seen,
            vec![
                ("/v1/products/{id}".into(), "GET", [0, 1, 0, 1, 0], 2),
                ("/v1/products/{id}".into(), "PUT", [0, 1, 0, 0, 0], 3),
                ("unmatched".into(), "OTHER", [0, 0, 0, 1, 0], 0),
            ]
        );
    }
}
