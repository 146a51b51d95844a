//! The live page's history: a ring of per-interval points (per-route request count and
//! p50/p95/p99 of that interval, cache and limiter deltas, pool readings). The ring
//! only stores points and turns counter totals into per-interval deltas; when a point
//! closes, and what goes in it, is `dashboard.rs`'s business.

use super::histogram::Percentiles;
use super::pool::PoolSample;
use std::collections::VecDeque;
use std::sync::Arc;

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
    /// The request method.
    pub method: &'static str,
    /// The route pattern.
    pub route: Arc<str>,
    /// Requests finished in the interval.
    pub count: u64,
    /// Latency quantiles in µs.
    pub latency: Percentiles,
}

/// What a point is made of when it is taken: counter totals (not yet deltas) and
/// the readings of the interval.
pub(super) struct Reading {
    /// Time since the process started, in nanoseconds.
    pub(super) elapsed_nanos: u64,
    /// End of the point, Unix milliseconds.
    pub(super) t_ms: u64,
    /// Routes that had requests in the interval.
    pub(super) routes: Vec<RoutePoint>,
    /// Cache outcome totals since start.
    pub(super) cache: [u64; 6],
    /// Limiter decision totals since start.
    pub(super) limiter: [u64; 4],
    /// Pool readings now.
    pub(super) pools: Vec<(String, PoolSample)>,
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
    /// An empty ring of `capacity` points.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            points: VecDeque::with_capacity(capacity),
            prev_cache: [0; 6],
            prev_limiter: [0; 4],
            last_tick_nanos: 0,
        }
    }

    /// The point `reading` makes: counters as deltas since the last closed point.
    pub(super) fn point(&self, reading: Reading) -> Point {
        Point {
            t_ms: reading.t_ms,
            secs: (reading.elapsed_nanos.saturating_sub(self.last_tick_nanos)) as f64 / 1e9,
            routes: reading.routes,
            cache: sub(reading.cache, self.prev_cache),
            limiter: sub(reading.limiter, self.prev_limiter),
            pools: reading.pools,
        }
    }

    /// Closes a point: appends it (dropping the oldest when full) and starts the next
    /// interval's deltas from `reading`'s totals.
    pub(super) fn close(&mut self, reading: Reading) {
        let (cache, limiter, elapsed) = (reading.cache, reading.limiter, reading.elapsed_nanos);
        let point = self.point(reading);
        self.prev_cache = cache;
        self.prev_limiter = limiter;
        self.last_tick_nanos = elapsed;
        if self.points.len() == self.capacity {
            self.points.pop_front();
        }
        self.points.push_back(point);
    }

    /// How many points the ring keeps.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The closed points, oldest first.
    pub(super) fn closed(&self) -> impl Iterator<Item = &Point> {
        self.points.iter()
    }
}

fn sub<const N: usize>(now: [u64; N], prev: [u64; N]) -> [u64; N] {
    std::array::from_fn(|i| now[i].saturating_sub(prev[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(elapsed_s: u64, hits: u64) -> Reading {
        Reading {
            elapsed_nanos: elapsed_s * 1_000_000_000,
            t_ms: elapsed_s * 1000,
            routes: vec![],
            cache: [hits, 0, 0, 0, 0, 0],
            limiter: [0; 4],
            pools: vec![],
        }
    }

    #[test]
    fn closed_points_hold_deltas_and_the_ring_keeps_the_last_capacity() {
        let mut h = History::new(2);
        for s in 1..=3 {
            h.close(reading(s, s * 10));
        }
        let closed: Vec<&Point> = h.closed().collect();
        assert_eq!(closed.len(), 2);
        assert_eq!(closed[0].t_ms, 2000);
        assert_eq!(closed[1].cache[0], 10, "a delta, not the total of 30");
        assert_eq!(closed[1].secs, 1.0);
        let open = h.point(reading(5, 35));
        assert_eq!((open.cache[0], open.secs), (5, 2.0));
    }
}
