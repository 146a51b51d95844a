//! The process-wide `Metrics` handle: outcome counters fed by the cache and the rate
//! limiter (plain atomics: one relaxed add, no lock), per-route request statistics fed
//! by the middleware, the in-flight gauge, the registered pool gauges and the live
//! page's history.

use super::history::History;
use super::per_thread::PerThread;
// Re-exported: `metrics::events::{CacheEvent, LimiterEvent}` was their home.
pub use super::outcomes::{CacheEvent, CacheKind, InvalidationOutcome, LimiterEvent};
use super::pool::{PoolGauges, PoolSample};
use super::routes::{method_slot, Observation, RouteRegistry, RouteStats};
use super::settings::{MetricsConfig, DEFAULT_HISTORY, DEFAULT_INTERVAL};
use crate::redis::timing::{CommandTimings, KindSnapshot};
use actix_web::http::Method;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// The outcome counters, one atomic per variant.
#[derive(Default)]
pub(super) struct Counters {
    /// By [`CacheKind`], then [`CacheEvent`].
    pub(super) cache: [[AtomicU64; 6]; 3],
    pub(super) limiter: [AtomicU64; 4],
    pub(super) invalidations: [AtomicU64; 4],
}

/// Everything behind the `Arc` of [`Metrics`].
pub(super) struct Inner {
    pub(super) counters: Counters,
    pub(super) routes: RouteRegistry,
    /// Per recording thread (a request ends on the thread it began on, but the sum
    /// is right either way).
    pub(super) in_flight: PerThread<AtomicI64>,
    pub(super) pools: RwLock<Vec<(String, Arc<dyn PoolGauges>)>>,
    /// The deployment's settings as `brisk_config_info` labels, once described.
    pub(super) info: OnceLock<Vec<(&'static str, String)>>,
    /// The limits in force as `brisk_ratelimit_limit_info` series, once described.
    pub(super) limits: OnceLock<Vec<Vec<(&'static str, String)>>>,
    /// Redis command durations, once the Redis handle is registered.
    pub(super) redis: OnceLock<Arc<CommandTimings>>,
    pub(super) history: Mutex<History>,
    /// Restarts of each supervised background actor, by actor name (few, rarely
    /// written: a mutex is enough).
    pub(super) actor_restarts: Mutex<BTreeMap<&'static str, u64>>,
    /// When the next history point is due, in nanoseconds since `started`.
    pub(super) next_tick_nanos: AtomicU64,
    pub(super) started: Instant,
    pub(super) started_unix_ms: u64,
    pub(super) interval: Duration,
}

/// Shared by every worker of the process; clone freely. Built once at start-up.
#[derive(Clone)]
pub struct Metrics {
    pub(super) inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::with_history(DEFAULT_INTERVAL, DEFAULT_HISTORY)
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics with the default history (5 s points, the last 5 minutes).
    pub fn new() -> Self {
        Self::default()
    }

    /// Metrics with the live-page history of `config`.
    pub fn with_config(config: &MetricsConfig) -> Self {
        Self::with_history(config.interval, config.history)
    }

    /// Metrics whose live-page history keeps `capacity` points of `interval` each.
    pub fn with_history(interval: Duration, capacity: usize) -> Self {
        let interval = interval.max(Duration::from_millis(1));
        let started_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self {
            inner: Arc::new(Inner {
                counters: Counters::default(),
                routes: RouteRegistry::default(),
                in_flight: PerThread::default(),
                pools: RwLock::new(Vec::new()),
                redis: OnceLock::new(),
                info: OnceLock::new(),
                limits: OnceLock::new(),
                history: Mutex::new(History::new(capacity.max(1))),
                actor_restarts: Mutex::default(),
                next_tick_nanos: AtomicU64::new(interval.as_nanos() as u64),
                started: Instant::now(),
                started_unix_ms,
                interval,
            }),
        }
    }

    /// Counts one cache outcome of a view (one relaxed atomic add); [`Metrics::cache_of`]
    /// names the kind.
    pub fn cache(&self, event: CacheEvent) {
        self.cache_of(CacheKind::View, event);
    }

    /// Counts one cache outcome of an entry of `kind` (one relaxed atomic add).
    pub fn cache_of(&self, kind: CacheKind, event: CacheEvent) {
        self.inner.counters.cache[kind as usize][event as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts what became of one invalidation (one relaxed atomic add).
    pub fn invalidation(&self, outcome: InvalidationOutcome) {
        self.inner.counters.invalidations[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Invalidations with this outcome since start.
    pub fn invalidation_count(&self, outcome: InvalidationOutcome) -> u64 {
        self.inner.counters.invalidations[outcome as usize].load(Ordering::Relaxed)
    }

    /// Counts one limiter decision (one relaxed atomic add).
    pub fn limiter(&self, event: LimiterEvent) {
        self.inner.counters.limiter[event as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Cache outcomes of this kind since start, over every kind of entry.
    pub fn cache_count(&self, event: CacheEvent) -> u64 {
        CacheKind::ALL
            .iter()
            .map(|&kind| self.cache_count_of(kind, event))
            .sum()
    }

    /// Cache outcomes `event` of entries of `kind` since start.
    pub fn cache_count_of(&self, kind: CacheKind, event: CacheEvent) -> u64 {
        self.inner.counters.cache[kind as usize][event as usize].load(Ordering::Relaxed)
    }

    /// Limiter decisions of this kind since start.
    pub fn limiter_count(&self, event: LimiterEvent) -> u64 {
        self.inner.counters.limiter[event as usize].load(Ordering::Relaxed)
    }

    /// Records one finished request under its route pattern (or
    /// [`super::routes::UNMATCHED`]); also closes a history point when one is due.
    pub fn record_request(&self, route: &str, method: &Method, observation: &Observation) {
        self.inner
            .routes
            .record(route, method_slot(method), observation);
        self.tick_if_due(Instant::now());
    }

    /// Counts a request as in flight until the guard drops (a cancelled request included).
    pub fn in_flight_guard(&self) -> InFlight {
        self.inner.in_flight.local().fetch_add(1, Ordering::Relaxed);
        InFlight {
            metrics: self.clone(),
        }
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> i64 {
        (self.inner.in_flight.iter())
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }

    /// Registers a pool under `name` (`"db"`, `"redis"`); sampled only when read.
    /// Registering a name again replaces the previous provider.
    pub fn register_pool(&self, name: &str, gauges: impl PoolGauges) {
        let mut pools = self.inner.pools.write().unwrap_or_else(|e| e.into_inner());
        pools.retain(|(n, _)| n != name);
        pools.push((name.to_string(), Arc::new(gauges)));
    }

    /// Exports the Redis handle's command durations
    /// (`brisk_redis_command_duration_seconds`); the first registration stays.
    pub fn register_redis(&self, timings: Arc<CommandTimings>) {
        let _ = self.inner.redis.set(timings);
    }

    /// Exports the process's settings as the labels of `brisk_config_info` (what
    /// `brisk doctor` reads instead of trusting the flags it is told); the first
    /// description stays.
    pub fn describe(&self, labels: Vec<(&'static str, String)>) {
        let _ = self.inner.info.set(labels);
    }

    /// Exports the limits in force as `brisk_ratelimit_limit_info` series, one label set
    /// each (what `brisk doctor`'s "defaults and route limits" row reads); the first
    /// description stays.
    pub fn describe_limits(&self, series: Vec<Vec<(&'static str, String)>>) {
        let _ = self.inner.limits.set(series);
    }

    /// The label sets of `brisk_ratelimit_limit_info`, once described.
    pub fn limit_series(&self) -> &[Vec<(&'static str, String)>] {
        self.inner.limits.get().map_or(&[], Vec::as_slice)
    }

    /// The labels of `brisk_config_info`, once described.
    pub fn info_labels(&self) -> &[(&'static str, String)] {
        self.inner.info.get().map_or(&[], Vec::as_slice)
    }

    /// The registered Redis command durations, by kind.
    pub fn redis_timings(&self) -> Vec<KindSnapshot> {
        self.inner
            .redis
            .get()
            .map(|t| t.snapshot())
            .unwrap_or_default()
    }

    /// A reading of every registered pool, in registration order.
    pub fn pool_samples(&self) -> Vec<(String, PoolSample)> {
        let pools: Vec<(String, Arc<dyn PoolGauges>)> = self
            .inner
            .pools
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(n, g)| (n.clone(), Arc::clone(g)))
            .collect();
        pools.into_iter().map(|(n, g)| (n, g.sample())).collect()
    }

    /// Visits every (route, method) seen so far, sorted.
    pub fn for_each_route(&self, f: impl FnMut(&Arc<str>, &'static str, &RouteStats)) {
        self.inner.routes.for_each(f)
    }

    /// All cache counters, in [`CacheEvent::ALL`] order.
    pub fn cache_counts(&self) -> [u64; 6] {
        CacheEvent::ALL.map(|e| self.cache_count(e))
    }

    /// Declares a supervised background actor, so its restart counter shows (at 0)
    /// before its first restart.
    pub fn register_actor(&self, actor: &'static str) {
        self.actor_restarts().entry(actor).or_insert(0);
    }

    /// Counts one restart of the background actor `actor` by its supervisor.
    pub fn actor_restarted(&self, actor: &'static str) {
        *self.actor_restarts().entry(actor).or_insert(0) += 1;
    }

    /// Restarts per declared background actor, by name.
    pub fn actor_restart_counts(&self) -> Vec<(&'static str, u64)> {
        self.actor_restarts()
            .iter()
            .map(|(name, n)| (*name, *n))
            .collect()
    }

    fn actor_restarts(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, u64>> {
        // Held for one map operation; a panic elsewhere leaves the map usable.
        self.inner
            .actor_restarts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// All limiter counters, in [`LimiterEvent::ALL`] order.
    pub fn limiter_counts(&self) -> [u64; 4] {
        LimiterEvent::ALL.map(|e| self.limiter_count(e))
    }
}

/// Drop guard of one in-flight request.
pub struct InFlight {
    metrics: Metrics,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        (self.metrics.inner.in_flight.local()).fetch_sub(1, Ordering::Relaxed);
    }
}
