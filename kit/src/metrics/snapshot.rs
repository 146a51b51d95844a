//! One process's histograms as data another process can merge: what a peer serves at
//! `/dashboard/snapshot.json` (operations listener) for the cluster's live page, and
//! the merge itself.
//!
//! A route's latency histogram travels as its recorded HDR buckets, `[value, count]`
//! pairs (µs, the bucket's highest equivalent value). Every process builds its
//! histograms with the same bounds and precision ([`latency_histogram`]), so recording
//! each pair into a fresh histogram puts each count back into the very bucket it came
//! from: the merged histogram is exactly the histogram of all the processes' requests,
//! and its quantiles are the cluster's. Averaging the processes' p99s instead would
//! be wrong: 99 fast requests on one process and 1 slow one on another have a p99 of
//! the fast ones, not the mean of both.

use super::events::Metrics;
use super::histogram::{latency_histogram, percentiles};
use super::routes::STATUS_CLASSES;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One process's per-route statistics since it started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// The process's id (a peer checks that the process it reached is the registered one).
    pub pid: u32,
    /// When the process started, Unix ms (with `pid`, the process's identity).
    pub started_unix_ms: u64,
    /// Seconds since the process started.
    pub uptime_secs: f64,
    /// Requests being handled now.
    pub in_flight: i64,
    /// One entry per (method, route) seen, sorted.
    pub routes: Vec<RouteSnapshot>,
}

/// One (method, route) of one process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteSnapshot {
    /// The request method.
    pub method: String,
    /// The route pattern.
    pub route: String,
    /// Requests since start (the sum of `status`; equals the latency histogram's count).
    pub count: u64,
    /// Requests by status class (`1xx` .. `5xx`).
    pub status: BTreeMap<String, u64>,
    /// The latency histogram's recorded buckets: `[highest equivalent value in µs, count]`.
    pub latency_us: Vec<[u64; 2]>,
}

impl Metrics {
    /// When this process's metrics began (its start), Unix ms.
    pub fn started_unix_ms(&self) -> u64 {
        self.inner.started_unix_ms
    }

    /// This process's snapshot: every route's status counts and latency buckets.
    pub fn snapshot(&self) -> Snapshot {
        let mut routes = Vec::new();
        self.for_each_route(|route, method, stats| {
            let latency_us = {
                let h = stats.hists();
                buckets(&h.latency)
            };
            let status: BTreeMap<String, u64> = STATUS_CLASSES
                .iter()
                .zip(stats.status_counts())
                .map(|(c, n)| (c.to_string(), n))
                .collect();
            routes.push(RouteSnapshot {
                method: method.to_string(),
                route: route.to_string(),
                count: status.values().sum(),
                status,
                latency_us,
            });
        });
        Snapshot {
            pid: std::process::id(),
            started_unix_ms: self.inner.started_unix_ms,
            uptime_secs: self.inner.started.elapsed().as_secs_f64(),
            in_flight: self.in_flight(),
            routes,
        }
    }
}

/// The recorded buckets of `h` as `[highest equivalent value, count]` pairs.
pub fn buckets(h: &Histogram<u64>) -> Vec<[u64; 2]> {
    h.iter_recorded()
        .map(|v| [v.value_iterated_to(), v.count_at_value()])
        .collect()
}

/// A latency histogram holding the buckets of every `parts` (each value saturates at
/// the histogram's bound, as recording does).
pub fn merge_buckets<'a>(parts: impl IntoIterator<Item = &'a [[u64; 2]]>) -> Histogram<u64> {
    let mut merged = latency_histogram();
    for part in parts {
        for &[value, count] in part {
            merged.saturating_record_n(value, count);
        }
    }
    merged
}

/// One (method, route) over the whole cluster.
#[derive(Debug, Clone, Serialize)]
pub struct MergedRoute {
    /// `"<METHOD> <route>"`.
    pub key: String,
    /// The request method.
    pub method: String,
    /// The route pattern.
    pub route: String,
    /// Requests of every process that answered.
    pub count: u64,
    /// Of the merged histogram (the sum of the processes' buckets), ms.
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p95_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
    /// Requests by status class, summed.
    pub status: BTreeMap<String, u64>,
    /// Requests per process, in the order of the snapshots given to [`merge`]; `None`
    /// for a process without a snapshot (it did not answer).
    pub per_process: Vec<Option<u64>>,
}

/// The cluster's routes from the processes' snapshots (`None`: a process that did not
/// answer): counts summed, quantiles read from the summed histograms.
pub fn merge(snapshots: &[Option<&Snapshot>]) -> Vec<MergedRoute> {
    type Key = (String, String);
    let mut by_route: BTreeMap<Key, Vec<Option<&RouteSnapshot>>> = BTreeMap::new();
    for (i, snap) in snapshots.iter().enumerate() {
        let Some(snap) = snap else { continue };
        for r in &snap.routes {
            let slots = by_route
                .entry((r.route.clone(), r.method.clone()))
                .or_insert_with(|| vec![None; snapshots.len()]);
            slots[i] = Some(r);
        }
    }
    by_route
        .into_iter()
        .map(|((route, method), slots)| {
            let present = || slots.iter().flatten();
            let merged = merge_buckets(present().map(|r| r.latency_us.as_slice()));
            let mut status: BTreeMap<String, u64> = BTreeMap::new();
            for r in present() {
                for (class, n) in &r.status {
                    *status.entry(class.clone()).or_insert(0) += n;
                }
            }
            let [p50_ms, p95_ms, p99_ms] = percentiles(&merged).micros_as_ms();
            MergedRoute {
                key: format!("{method} {route}"),
                count: present().map(|r| r.count).sum(),
                per_process: slots
                    .iter()
                    .zip(snapshots)
                    .map(|(r, snap)| snap.map(|_| r.map_or(0, |r| r.count)))
                    .collect(),
                method,
                route,
                p50_ms,
                p95_ms,
                p99_ms,
                status,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::routes::Observation;
    use actix_web::http::Method;
    use std::time::Duration;

    fn served(m: &Metrics, route: &str, ms: u64, n: usize) {
        for _ in 0..n {
            let o = Observation {
                status: 200,
                elapsed: Duration::from_millis(ms),
                ..Observation::default()
            };
            m.record_request(route, &Method::GET, &o);
        }
    }

    #[test]
    fn merged_quantiles_come_from_the_summed_buckets_not_from_averaged_quantiles() {
        let (fast, slow) = (Metrics::new(), Metrics::new());
        // 99 requests of 1 ms on one process, 1 of 100 ms on the other.
        served(&fast, "/v1/catalog", 1, 99);
        served(&slow, "/v1/catalog", 100, 1);
        let (a, b) = (fast.snapshot(), slow.snapshot());
        // Through JSON, as a peer's snapshot arrives.
        let b: Snapshot = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        let merged = merge(&[Some(&a), Some(&b)]);
        assert_eq!(merged.len(), 1);
        let r = &merged[0];
        assert_eq!((r.key.as_str(), r.count), ("GET /v1/catalog", 100));
        assert_eq!(r.per_process, [Some(99), Some(1)]);
        assert_eq!(r.status["2xx"], 100);
        // The 99th of 100 requests is a fast one; the mean of the two p99s would be
        // ~50 ms. The slowest request shows in no quantile below p100.
        assert!((0.99..=1.01).contains(&r.p99_ms), "p99 {}", r.p99_ms);
        assert!((0.99..=1.01).contains(&r.p50_ms), "p50 {}", r.p50_ms);
    }

    #[test]
    fn a_merged_histogram_equals_the_histogram_of_all_requests() {
        let (a, b, all) = (Metrics::new(), Metrics::new(), Metrics::new());
        for (ms, n) in [(2, 30), (7, 10), (45, 5)] {
            served(&a, "/x", ms, n);
            served(&all, "/x", ms, n);
        }
        for (ms, n) in [(3, 20), (90, 3), (700, 1)] {
            served(&b, "/x", ms, n);
            served(&all, "/x", ms, n);
        }
        let merged = merge(&[Some(&a.snapshot()), Some(&b.snapshot())]);
        let whole = merge(&[Some(&all.snapshot())]);
        let q = |r: &MergedRoute| (r.count, r.p50_ms, r.p95_ms, r.p99_ms);
        assert_eq!(q(&merged[0]), q(&whole[0]));
        assert_eq!(merged[0].per_process, [Some(45), Some(24)]);
    }

    #[test]
    fn a_route_one_process_never_served_counts_zero_and_a_silent_process_none() {
        let (a, b) = (Metrics::new(), Metrics::new());
        served(&a, "/a", 1, 2);
        served(&b, "/b", 1, 3);
        let (a, b) = (a.snapshot(), b.snapshot());
        let merged = merge(&[Some(&a), None, Some(&b)]);
        let rows: Vec<(&str, Vec<Option<u64>>)> = merged
            .iter()
            .map(|r| (r.route.as_str(), r.per_process.clone()))
            .collect();
        let expected = [
            ("/a", vec![Some(2), None, Some(0)]),
            ("/b", vec![Some(0), None, Some(3)]),
        ];
        assert_eq!(rows, expected);
    }
}
