//! The live page's data: when a history point closes (lazily, by whichever request or
//! page read first finds one due: no background task to own or stop), what goes in it,
//! and the JSON of `/dashboard/data.json` built from the points and the totals.

use super::events::Metrics;
use super::histogram::percentiles;
use super::history::{Point, Reading, RoutePoint};
use super::outcomes::{CacheEvent, LimiterEvent};
use super::pool::PoolSample;
use super::routes::STATUS_CLASSES;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Series keyed by (route, method), in the order `/dashboard/data.json` lists them.
type RouteMap = BTreeMap<(Arc<str>, &'static str), RouteSeries>;

impl Metrics {
    /// Closes the current history point if its interval has ended by `now`. Cheap when
    /// not due (one atomic load); when due, one caller does the work and others skip.
    /// Each point ends on its interval's boundary; whole intervals that passed without
    /// a tick (an idle spell) become points of zeros, so the page's time axis stays
    /// even and a rate falls to 0 at once instead of along a diagonal.
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
        let due = inner.next_tick_nanos.load(Ordering::Relaxed);
        if elapsed < due {
            return;
        }
        let step = inner.interval.as_nanos() as u64;
        let t_ms = |end: u64| inner.started_unix_ms + end / 1_000_000;
        let first = self.reading(due, t_ms(due), true);
        let (cache, limiter, pools) = (first.cache, first.limiter, first.pools.clone());
        history.close(first);
        // At most a ring's worth of idle points: older ones would drop out at once.
        let idle = ((elapsed - due) / step).min(history.capacity() as u64);
        let mut end = due + step;
        for _ in 0..idle {
            history.close(Reading {
                elapsed_nanos: end,
                t_ms: t_ms(end),
                routes: Vec::new(),
                cache,
                limiter,
                pools: pools.clone(),
            });
            end += step;
        }
        inner
            .next_tick_nanos
            .store(elapsed - elapsed % step + step, Ordering::Relaxed);
    }

    /// What the counters and the routes' interval histograms hold now; `close` also
    /// starts the routes' next interval.
    fn reading(&self, elapsed_nanos: u64, t_ms: u64, close: bool) -> Reading {
        let mut routes = Vec::new();
        self.for_each_route(|route, method, stats| {
            let interval = stats.interval(close);
            if interval.is_empty() {
                return;
            }
            routes.push(RoutePoint {
                method,
                route: Arc::clone(route),
                count: interval.len(),
                latency: percentiles(&interval),
            });
        });
        Reading {
            elapsed_nanos,
            t_ms,
            routes,
            cache: self.cache_counts(),
            limiter: self.limiter_counts(),
            pools: self.pool_samples(),
        }
    }

    /// The closed points followed by the current, still open one (so a page loaded
    /// right after start-up already has data).
    pub fn history_points(&self) -> Vec<Point> {
        let now = Instant::now();
        self.tick_if_due(now);
        let history = self.inner.history.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(self.inner.started).as_nanos() as u64;
        let mut points: Vec<Point> = history.closed().cloned().collect();
        // The open point comes after every closed one (a tick may be dated ahead of the
        // clock by a caller of `tick_if_due`, as tests do).
        let last_closed = points.last().map_or(0, |p| p.t_ms);
        let t_ms = (self.inner.started_unix_ms + elapsed / 1_000_000).max(last_closed + 1);
        points.push(history.point(self.reading(elapsed, t_ms, false)));
        points
    }

    /// Everything the live page shows.
    pub fn dashboard(&self) -> Dashboard {
        let points = self.history_points();
        let mut routes = self.route_totals(points.len());
        fill_route_points(&mut routes, &points);
        let per_s = |v: u64, secs: f64| if secs > 0.0 { v as f64 / secs } else { 0.0 };
        let limiter_per_s = |event: LimiterEvent| {
            points
                .iter()
                .map(|p| per_s(p.limiter[event as usize], p.secs))
                .collect()
        };
        let cache_totals = self.cache_counts();
        let capacity = self.inner.history.lock().map_or(0, |h| h.capacity());
        Dashboard {
            interval_secs: self.inner.interval.as_secs_f64(),
            window_secs: self.inner.interval.as_secs_f64() * capacity as f64,
            uptime_secs: self.inner.started.elapsed().as_secs_f64(),
            in_flight: self.in_flight(),
            t_ms: points.iter().map(|p| p.t_ms).collect(),
            routes: routes.into_values().collect(),
            cache_hit_ratio: points.iter().map(|p| hit_ratio(&p.cache)).collect(),
            limiter_rejected_per_s: limiter_per_s(LimiterEvent::Rejected),
            limiter_allowed_per_s: limiter_per_s(LimiterEvent::Allowed),
            pools: pool_series(&points),
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

    /// Every route's totals since start, with empty per-point series of length `n`.
    fn route_totals(&self, n: usize) -> RouteMap {
        let mut routes = RouteMap::new();
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
        routes
    }
}

/// Fills each route's per-point rate and quantiles from the points.
fn fill_route_points(routes: &mut RouteMap, points: &[Point]) {
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
}

/// One series per pool seen in the points, by name.
fn pool_series(points: &[Point]) -> Vec<PoolSeries> {
    let n = points.len();
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
    pools.into_values().collect()
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
    /// The charts' fixed window: seconds the history holds (points × interval).
    pub window_secs: f64,
    /// Seconds since the process started.
    pub uptime_secs: f64,
    /// Requests being handled now.
    pub in_flight: i64,
    /// End of each point, Unix ms (the time axis of every series).
    pub t_ms: Vec<u64>,
    /// One series per (method, route) seen, sorted.
    pub routes: Vec<RouteSeries>,
    /// Per point; `None` without lookups.
    pub cache_hit_ratio: Vec<Option<f64>>,
    /// Per point: rejected requests per second.
    pub limiter_rejected_per_s: Vec<f64>,
    /// Per point: allowed requests per second.
    pub limiter_allowed_per_s: Vec<f64>,
    /// One series per registered pool, by name.
    pub pools: Vec<PoolSeries>,
    /// Cache outcomes since start, by label.
    pub cache: BTreeMap<&'static str, u64>,
    /// Hit ratio since start; `None` without lookups.
    pub cache_hit_ratio_total: Option<f64>,
    /// Limiter decisions since start, by label.
    pub limiter: BTreeMap<&'static str, u64>,
}

/// One (method, route): totals since start and per-point series.
#[derive(Debug, Serialize)]
pub struct RouteSeries {
    /// `"<METHOD> <route>"`.
    pub key: String,
    /// The request method.
    pub method: &'static str,
    /// The route pattern.
    pub route: String,
    /// Requests since start.
    pub count: u64,
    /// Latency quantiles since start, ms.
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p95_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
    /// Statements per request, median.
    pub statements_p50: u64,
    /// Statements per request, 99th percentile.
    pub statements_p99: u64,
    /// Mean database time per request, ms.
    pub db_ms_mean: f64,
    /// Requests by status class.
    pub status: BTreeMap<&'static str, u64>,
    /// Per point: requests per second, then latency quantiles in ms (`None`: no requests).
    pub rps: Vec<f64>,
    /// Median latency per point, ms.
    pub p50: Vec<Option<f64>>,
    /// 95th percentile per point, ms.
    pub p95: Vec<Option<f64>>,
    /// 99th percentile per point, ms.
    pub p99: Vec<Option<f64>>,
}

/// One pool over time.
#[derive(Debug, Serialize)]
pub struct PoolSeries {
    /// The pool's registered name.
    pub name: String,
    /// Its configured maximum.
    pub max_size: u64,
    /// Per point: connections checked out.
    pub in_use: Vec<Option<u64>>,
    /// Per point: open connections.
    pub connections: Vec<Option<u64>>,
    /// Per point: callers waiting (`None`: the pool cannot tell).
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
                ..Observation::default()
            },
        );
    }

    #[test]
    fn a_tick_closes_the_interval_and_starts_a_fresh_one() {
        let m = Metrics::with_history(Duration::from_secs(3600), 4);
        for ms in [1, 2, 3, 4] {
            get(&m, "/v1/catalog", ms);
        }
        m.cache(CacheEvent::Hit);
        m.cache(CacheEvent::Miss);
        // Not due yet: only the open point, holding all four requests.
        let points = m.history_points();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].routes[0].count, 4);

        m.tick_if_due(m.inner.started + Duration::from_secs(3600));
        get(&m, "/v1/catalog", 9);
        let points = m.history_points();
        assert_eq!(points.len(), 2, "one closed point and the open one");
        assert_eq!(points[0].routes[0].count, 4);
        assert_eq!(points[0].cache[CacheEvent::Hit as usize], 1);
        assert_eq!(points[1].routes[0].count, 1);
        assert_eq!(points[1].cache, [0; 6], "deltas, not totals");
    }

    #[test]
    fn an_idle_spell_shows_as_points_of_zeros_on_an_even_axis() {
        let m = Metrics::with_history(Duration::from_secs(1), 10);
        get(&m, "/v1/catalog", 2);
        m.cache(CacheEvent::Hit);
        // Nothing for a while; the next request ticks 5.3 s after start.
        m.tick_if_due(m.inner.started + Duration::from_millis(5_300));
        let points = m.history_points();
        let closed = &points[..points.len() - 1];
        let start = m.inner.started_unix_ms;
        let ends: Vec<u64> = closed.iter().map(|p| p.t_ms - start).collect();
        assert_eq!(ends, [1_000, 2_000, 3_000, 4_000, 5_000]);
        assert_eq!(closed[0].routes[0].count, 1);
        assert_eq!(closed[0].cache[CacheEvent::Hit as usize], 1);
        for idle in &closed[1..] {
            assert!(idle.routes.is_empty(), "{idle:?}");
            assert_eq!((idle.cache, idle.secs), ([0; 6], 1.0));
        }
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
        get(&m, "/v1/products/{id}", 5);
        let d = m.dashboard();
        assert_eq!(d.t_ms.len(), 1);
        let r = &d.routes[0];
        assert_eq!((r.key.as_str(), r.count), ("GET /v1/products/{id}", 1));
        assert_eq!((r.rps.len(), r.p99.len()), (1, 1));
        assert!(r.p99[0].unwrap() >= 4.9);
        let json = serde_json::to_value(&d).unwrap();
        assert!(json["routes"][0]["status"]["2xx"] == 1);
    }
}
