//! The live page's history: a ring of per-interval points (per-route request count and
//! p50/p95/p99 of that interval, cache and limiter deltas, pool readings), closed lazily
//! by whichever request or page read first finds a point due (no background task to own
//! or stop), and the JSON the page draws from.

use super::events::Metrics;
use super::histogram::{percentiles, Percentiles};
use super::pool::PoolSample;
use super::routes::STATUS_CLASSES;
use super::{CacheEvent, LimiterEvent};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// One closed interval.
#[derive(Debug, Clone)]
pub struct Point {
    /// End of the interval, Unix milliseconds.
    pub t_ms: u64,
    /// Length of the interval in seconds (longer than the nominal one after idle time).
    pub secs: f64,
    /// Routes that had requests in the interval.
    pub routes: Vec<RoutePoint>,
    /// Cache outcomes within the interval, in `CacheEvent::ALL` order.
    pub cache: [u64; 6],
    /// Limiter decisions within the interval, in `LimiterEvent::ALL` order.
    pub limiter: [u64; 4],
    /// Pool readings at the end of the interval.
    pub pools: Vec<(String, PoolSample)>,
}

/// One route's requests within one interval.
#[derive(Debug, Clone)]
pub struct RoutePoint {
    pub method: &'static str,
    pub route: Arc<str>,
    /// Requests finished in the interval.
    pub count: u64,
    /// Latency quantiles in µs.
    pub latency: Percentiles,
}

/// The ring and the counter values at the last tick.
pub(super) struct History {
    capacity: usize,
    points: VecDeque<Point>,
    prev_cache: [u64; 6],
    prev_limiter: [u64; 4],
    last_tick_nanos: u64,
}

impl History {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            points: VecDeque::with_capacity(capacity),
            prev_cache: [0; 6],
            prev_limiter: [0; 4],
            last_tick_nanos: 0,
        }
    }
}

fn sub<const N: usize>(now: [u64; N], prev: [u64; N]) -> [u64; N] {
    std::array::from_fn(|i| now[i].saturating_sub(prev[i]))
}

impl Metrics {
    /// Closes the current history point if its interval has ended by `now`. Cheap when
    /// not due (one atomic load); when due, one caller does the work and others skip.
    pub fn tick_if_due(&self, now: Instant) {
        let inner = &self.inner;
        let elapsed = now.saturating_duration_since(inner.started).as_nanos() as u64;
        if elapsed < inner.next_tick_nanos.load(Ordering::Relaxed) {
            return;
        }
        // try_lock: a request never waits for another one's tick.
        let Ok(mut history) = inner.history.try_lock() else {
            return;
        };
        if elapsed < inner.next_tick_nanos.load(Ordering::Relaxed) {
            return;
        }
        self.close_point(&mut history, elapsed);
        let step = inner.interval.as_nanos() as u64;
        inner
            .next_tick_nanos
            .store(elapsed - elapsed % step + step, Ordering::Relaxed);
    }

    fn close_point(&self, history: &mut History, elapsed_nanos: u64) {
        let mut routes = Vec::new();
        self.for_each_route(|route, method, stats| {
            let mut h = stats.hists();
            if h.interval.is_empty() {
                return;
            }
            routes.push(RoutePoint {
                method,
                route: Arc::clone(route),
                count: h.interval.len(),
                latency: percentiles(&h.interval),
            });
            h.interval.reset();
        });
        let cache = self.cache_counts();
        let limiter = self.limiter_counts();
        let point = Point {
            t_ms: self.inner.started_unix_ms + elapsed_nanos / 1_000_000,
            secs: (elapsed_nanos.saturating_sub(history.last_tick_nanos)) as f64 / 1e9,
            routes,
            cache: sub(cache, history.prev_cache),
            limiter: sub(limiter, history.prev_limiter),
            pools: self.pool_samples(),
        };
        history.prev_cache = cache;
        history.prev_limiter = limiter;
        history.last_tick_nanos = elapsed_nanos;
        if history.points.len() == history.capacity {
            history.points.pop_front();
        }
        history.points.push_back(point);
    }

    /// The closed points followed by the current, still open one (so a page loaded
    /// right after start-up already has data).
    pub fn history_points(&self) -> Vec<Point> {
        let now = Instant::now();
        self.tick_if_due(now);
        let history = self.inner.history.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(self.inner.started).as_nanos() as u64;
        let mut points: Vec<Point> = history.points.iter().cloned().collect();
        let mut routes = Vec::new();
        self.for_each_route(|route, method, stats| {
            let h = stats.hists();
            if !h.interval.is_empty() {
                routes.push(RoutePoint {
                    method,
                    route: Arc::clone(route),
                    count: h.interval.len(),
                    latency: percentiles(&h.interval),
                });
            }
        });
        // The open point comes after every closed one (a tick may be dated ahead of the
        // clock by a caller of `tick_if_due`, as tests do).
        let last_closed = points.last().map_or(0, |p| p.t_ms);
        let t_ms = (self.inner.started_unix_ms + elapsed / 1_000_000).max(last_closed + 1);
        points.push(Point {
            t_ms,
            secs: (elapsed.saturating_sub(history.last_tick_nanos)) as f64 / 1e9,
            routes,
            cache: sub(self.cache_counts(), history.prev_cache),
            limiter: sub(self.limiter_counts(), history.prev_limiter),
            pools: self.pool_samples(),
        });
        points
    }

    /// Everything the live page shows.
    pub fn dashboard(&self) -> Dashboard {
        let points = self.history_points();
        let t_ms: Vec<u64> = points.iter().map(|p| p.t_ms).collect();
        let n = points.len();

        let mut routes: BTreeMap<(Arc<str>, &'static str), RouteSeries> = BTreeMap::new();
        self.for_each_route(|route, method, stats| {
            let (latency, statements) = {
                let h = stats.hists();
                (percentiles(&h.latency), percentiles(&h.statements))
            };
            let count = stats.status_counts().iter().sum::<u64>();
            let [p50, p95, p99] = latency.micros_as_ms();
            routes.insert(
                (Arc::clone(route), method),
                RouteSeries {
                    key: format!("{method} {route}"),
                    method,
                    route: route.to_string(),
                    count,
                    p50_ms: p50,
                    p95_ms: p95,
                    p99_ms: p99,
                    statements_p50: statements.p50,
                    statements_p99: statements.p99,
                    db_ms_mean: if count == 0 {
                        0.0
                    } else {
                        stats.db_time().as_secs_f64() * 1000.0 / count as f64
                    },
                    status: STATUS_CLASSES
                        .iter()
                        .zip(stats.status_counts())
                        .map(|(c, n)| (*c, n))
                        .collect(),
                    rps: vec![0.0; n],
                    p50: vec![None; n],
                    p95: vec![None; n],
                    p99: vec![None; n],
                },
            );
        });
        for (i, p) in points.iter().enumerate() {
            for r in &p.routes {
                if let Some(s) = routes.get_mut(&(Arc::clone(&r.route), r.method)) {
                    let [p50, p95, p99] = r.latency.micros_as_ms();
                    s.rps[i] = if p.secs > 0.0 {
                        r.count as f64 / p.secs
                    } else {
                        0.0
                    };
                    s.p50[i] = Some(p50);
                    s.p95[i] = Some(p95);
                    s.p99[i] = Some(p99);
                }
            }
        }

        let per_s = |v: u64, secs: f64| if secs > 0.0 { v as f64 / secs } else { 0.0 };
        let cache_hit_ratio = points.iter().map(|p| hit_ratio(&p.cache)).collect();
        let limiter_rejected_per_s = points
            .iter()
            .map(|p| per_s(p.limiter[LimiterEvent::Rejected as usize], p.secs))
            .collect();
        let limiter_allowed_per_s = points
            .iter()
            .map(|p| per_s(p.limiter[LimiterEvent::Allowed as usize], p.secs))
            .collect();

        let mut pools: BTreeMap<String, PoolSeries> = BTreeMap::new();
        for (i, p) in points.iter().enumerate() {
            for (name, s) in &p.pools {
                let series = pools.entry(name.clone()).or_insert_with(|| PoolSeries {
                    name: name.clone(),
                    in_use: vec![None; n],
                    connections: vec![None; n],
                    waiting: vec![None; n],
                    max_size: s.max_size,
                    latest: *s,
                });
                series.in_use[i] = Some(s.in_use());
                series.connections[i] = Some(s.connections);
                series.waiting[i] = s.waiting;
                series.max_size = s.max_size;
                series.latest = *s;
            }
        }

        let cache_totals = self.cache_counts();
        Dashboard {
            interval_secs: self.inner.interval.as_secs_f64(),
            uptime_secs: self.inner.started.elapsed().as_secs_f64(),
            in_flight: self.in_flight(),
            t_ms,
            routes: routes.into_values().collect(),
            cache_hit_ratio,
            limiter_rejected_per_s,
            limiter_allowed_per_s,
            pools: pools.into_values().collect(),
            cache: CacheEvent::ALL
                .iter()
                .map(|e| (e.as_str(), cache_totals[*e as usize]))
                .collect(),
            cache_hit_ratio_total: hit_ratio(&cache_totals),
            limiter: LimiterEvent::ALL
                .iter()
                .map(|e| (e.as_str(), self.limiter_count(*e)))
                .collect(),
        }
    }
}

/// (hit + stale) / lookups that answered a request; `None` without lookups.
/// Background refresh errors are not lookups.
pub fn hit_ratio(cache: &[u64; 6]) -> Option<f64> {
    let served = cache[CacheEvent::Hit as usize] + cache[CacheEvent::Stale as usize];
    let lookups = served
        + cache[CacheEvent::Miss as usize]
        + cache[CacheEvent::Coalesced as usize]
        + cache[CacheEvent::Error as usize];
    (lookups > 0).then(|| served as f64 / lookups as f64)
}

/// The JSON of `/dashboard/data.json`. Series are aligned with `t_ms`; the last point is
/// the interval still open.
#[derive(Debug, Serialize)]
pub struct Dashboard {
    /// Nominal seconds per point.
    pub interval_secs: f64,
    pub uptime_secs: f64,
    pub in_flight: i64,
    /// End of each point, Unix ms (the time axis of every series).
    pub t_ms: Vec<u64>,
    pub routes: Vec<RouteSeries>,
    /// Per point; `None` without lookups.
    pub cache_hit_ratio: Vec<Option<f64>>,
    pub limiter_rejected_per_s: Vec<f64>,
    pub limiter_allowed_per_s: Vec<f64>,
    pub pools: Vec<PoolSeries>,
    pub cache: BTreeMap<&'static str, u64>,
    pub cache_hit_ratio_total: Option<f64>,
    pub limiter: BTreeMap<&'static str, u64>,
}

/// One (method, route): totals since start and per-point series.
#[derive(Debug, Serialize)]
pub struct RouteSeries {
    /// `"<METHOD> <route>"`.
    pub key: String,
    pub method: &'static str,
    pub route: String,
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub statements_p50: u64,
    pub statements_p99: u64,
    pub db_ms_mean: f64,
    pub status: BTreeMap<&'static str, u64>,
    /// Per point: requests per second, then latency quantiles in ms (`None`: no requests).
    pub rps: Vec<f64>,
    pub p50: Vec<Option<f64>>,
    pub p95: Vec<Option<f64>>,
    pub p99: Vec<Option<f64>>,
}

/// One pool over time.
#[derive(Debug, Serialize)]
pub struct PoolSeries {
    pub name: String,
    pub max_size: u64,
    pub in_use: Vec<Option<u64>>,
    pub connections: Vec<Option<u64>>,
    pub waiting: Vec<Option<u64>>,
    /// The newest reading.
    pub latest: PoolSample,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::routes::Observation;
    use actix_web::http::Method;
    use std::time::Duration;

    fn get(m: &Metrics, route: &str, ms: u64) {
        m.record_request(
            route,
            &Method::GET,
            &Observation {
                status: 200,
                elapsed: Duration::from_millis(ms),
                statements: 1,
                db_time: Duration::ZERO,
            },
        );
    }

    #[test]
    fn a_tick_closes_the_interval_and_starts_a_fresh_one() {
        let m = Metrics::with_history(Duration::from_secs(3600), 4);
        for ms in [1, 2, 3, 4] {
            get(&m, "/api/catalog", ms);
        }
        m.cache(CacheEvent::Hit);
        m.cache(CacheEvent::Miss);
        // Not due yet: only the open point, holding all four requests.
        let points = m.history_points();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].routes[0].count, 4);

        m.tick_if_due(m.inner.started + Duration::from_secs(3600));
        get(&m, "/api/catalog", 9);
        let points = m.history_points();
        assert_eq!(points.len(), 2, "one closed point and the open one");
        assert_eq!(points[0].routes[0].count, 4);
        assert_eq!(points[0].cache[CacheEvent::Hit as usize], 1);
        assert_eq!(points[1].routes[0].count, 1);
        assert_eq!(points[1].cache, [0; 6], "deltas, not totals");
    }

    #[test]
    fn the_ring_keeps_only_the_last_capacity_points() {
        let m = Metrics::with_history(Duration::from_secs(1), 3);
        for s in 1..=10u64 {
            get(&m, "/health", 1);
            m.tick_if_due(m.inner.started + Duration::from_secs(s));
        }
        assert_eq!(m.history_points().len(), 3 + 1);
    }

    #[test]
    fn the_hit_ratio_counts_fresh_and_stale_hits_over_answered_lookups() {
        assert_eq!(hit_ratio(&[0; 6]), None);
        // hit, stale, miss, coalesced, error, refresh_error
        assert_eq!(hit_ratio(&[6, 2, 1, 1, 0, 50]), Some(0.8));
    }

    #[test]
    fn the_dashboard_aligns_route_series_with_the_time_axis() {
        let m = Metrics::with_history(Duration::from_secs(3600), 10);
        get(&m, "/api/products/{id}", 5);
        let d = m.dashboard();
        assert_eq!(d.t_ms.len(), 1);
        let r = &d.routes[0];
        assert_eq!((r.key.as_str(), r.count), ("GET /api/products/{id}", 1));
        assert_eq!((r.rps.len(), r.p99.len()), (1, 1));
        assert!(r.p99[0].unwrap() >= 4.9);
        let json = serde_json::to_value(&d).unwrap();
        assert!(json["routes"][0]["status"]["2xx"] == 1);
    }
}
