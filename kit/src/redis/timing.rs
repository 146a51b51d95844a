//! How long Redis commands take, by command kind: the connection every caller gets
//! from [`super::Redis::conn`] times each command (or pipeline) from the call to its
//! answer, and [`CommandTimings`] keeps a small fixed-bucket histogram per kind for
//! `/metrics` (`brisk_redis_command_duration_seconds`). A command dropped before its
//! answer (the caller's timeout) is recorded too, with the time it was given.
//! Recording is a few relaxed atomic adds: no lock.

use super::connection::Connection;
use redis::aio::ConnectionLike;
use redis::{Arg, Cmd, Pipeline, RedisFuture, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The command kinds with a series of their own; anything else is `other`.
/// `pipeline` is a pipeline (or transaction) sent as one.
pub const KINDS: [&str; 10] = [
    "get", "mget", "set", "del", "evalsha", "eval", "script", "ping", "pipeline", "other",
];
const OTHER: usize = 9;
const PIPELINE: usize = 8;

/// Bucket upper bounds, seconds: a loopback Redis answers in ~50 µs, a slow one in ms.
pub const BOUNDS_SECONDS: [f64; 11] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
];

/// Per-kind histograms of command durations.
#[derive(Default)]
pub struct CommandTimings {
    kinds: [KindTimings; KINDS.len()],
}

#[derive(Default)]
struct KindTimings {
    /// Per bucket, not cumulative (the exposition sums them).
    buckets: [AtomicU64; BOUNDS_SECONDS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// One kind's histogram as read at a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct KindSnapshot {
    /// One of [`KINDS`].
    pub kind: &'static str,
    /// Cumulative counts at each of [`BOUNDS_SECONDS`].
    pub cumulative: Vec<u64>,
    /// Commands timed.
    pub count: u64,
    /// Their total duration, seconds.
    pub sum_seconds: f64,
}

impl CommandTimings {
    /// Records one command of kind index `kind` that took `elapsed`.
    fn record(&self, kind: usize, elapsed: Duration) {
        let k = &self.kinds[kind];
        let secs = elapsed.as_secs_f64();
        if let Some(b) = BOUNDS_SECONDS.iter().position(|&bound| secs <= bound) {
            k.buckets[b].fetch_add(1, Ordering::Relaxed);
        }
        k.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        k.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The kinds that saw at least one command.
    pub fn snapshot(&self) -> Vec<KindSnapshot> {
        KINDS
            .iter()
            .zip(&self.kinds)
            .filter(|(_, k)| k.count.load(Ordering::Relaxed) > 0)
            .map(|(kind, k)| {
                let mut running = 0;
                let cumulative = k
                    .buckets
                    .iter()
                    .map(|b| {
                        running += b.load(Ordering::Relaxed);
                        running
                    })
                    .collect();
                KindSnapshot {
                    kind,
                    cumulative,
                    count: k.count.load(Ordering::Relaxed),
                    sum_seconds: k.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
                }
            })
            .collect()
    }
}

/// The kind index of a command, from its name (its first argument).
fn kind_of(cmd: &Cmd) -> usize {
    let Some(Arg::Simple(name)) = cmd.args_iter().next() else {
        return OTHER;
    };
    KINDS[..PIPELINE]
        .iter()
        .position(|k| k.as_bytes().eq_ignore_ascii_case(name))
        .unwrap_or(OTHER)
}

/// Records on drop: when the answer came, or when the caller gave up waiting.
struct Stopwatch<'a> {
    timings: &'a CommandTimings,
    kind: usize,
    start: Instant,
}

impl Drop for Stopwatch<'_> {
    fn drop(&mut self) {
        self.timings.record(self.kind, self.start.elapsed());
    }
}

/// The shared multiplexed connection, timing every command it carries. Cheap to
/// clone (an Arc and the manager's own handle).
#[derive(Clone)]
pub struct TimedConnection {
    inner: Connection,
    timings: Arc<CommandTimings>,
}

impl TimedConnection {
    pub(super) fn new(inner: Connection, timings: Arc<CommandTimings>) -> Self {
        Self { inner, timings }
    }
}

impl ConnectionLike for TimedConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let watch = Stopwatch {
            timings: &self.timings,
            kind: kind_of(cmd),
            start: Instant::now(),
        };
        let sent = self.inner.req_packed_command(cmd);
        Box::pin(async move {
            let answer = sent.await;
            drop(watch);
            answer
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let watch = Stopwatch {
            timings: &self.timings,
            kind: PIPELINE,
            start: Instant::now(),
        };
        let sent = self.inner.req_packed_commands(pipeline, offset, count);
        Box::pin(async move {
            let answer = sent.await;
            drop(watch);
            answer
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_kinded_by_name_whatever_the_case() {
        assert_eq!(KINDS[kind_of(&redis::cmd("GET"))], "get");
        assert_eq!(
            KINDS[kind_of(redis::cmd("evalsha").arg("abc").arg(1))],
            "evalsha"
        );
        assert_eq!(KINDS[kind_of(&redis::cmd("HGETALL"))], "other");
        assert_eq!(
            KINDS[kind_of(&redis::cmd("PIPELINE"))],
            "other",
            "only pipelines are"
        );
    }

    #[test]
    fn a_duration_lands_in_the_first_bucket_that_holds_it() {
        let t = CommandTimings::default();
        t.record(0, Duration::from_micros(80));
        t.record(0, Duration::from_micros(300));
        t.record(0, Duration::from_secs(2));
        let snap = t.snapshot();
        assert_eq!(snap.len(), 1, "only kinds with commands");
        let get = &snap[0];
        assert_eq!((get.kind, get.count), ("get", 3));
        assert_eq!(get.cumulative[0], 1, "≤ 100 µs");
        assert_eq!(get.cumulative[2], 2, "≤ 500 µs");
        assert_eq!(
            *get.cumulative.last().unwrap(),
            2,
            "2 s is above every bound"
        );
        assert!((get.sum_seconds - 2.00038).abs() < 1e-9);
    }
}
