//! The kit's one single-flight: concurrent callers of one key share one computation.
//!
//! The computation runs in a spawned task, not in a caller's future: actix drops a
//! handler's future when its client disconnects, and the callers that joined must
//! still get the value, so a flight always finishes and always leaves the map, whatever
//! its callers do (cf. moka `future/value_initializer.rs`, which solves the same problem
//! with a waiter guard). A panic is caught and answered [`Aborted`] to every caller.
//!
//! The map is sharded (std mutexes held for one map operation, never across an await),
//! so callers of different keys rarely meet. The request's Redis budget
//! (`crate::redis::budget`) travels both ways: the work starts spent when the request
//! that started it had spent its own, and every caller adopts a Redis failure seen
//! inside the flight, so no waiter pays a second Redis timeout afterwards.

use crate::metrics::log_context;
use crate::redis::budget;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The flight's work panicked, or its runtime shut down before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted;

/// The work's value and whether Redis failed inside it; `None`: aborted.
type Landed<V> = Option<(V, bool)>;
type Flight<V> = Shared<BoxFuture<'static, Landed<V>>>;
type Shard<K, V> = HashMap<K, (u64, Flight<V>)>;

const SHARDS: usize = 64;

/// Computations in progress, by key.
pub struct SingleFlight<K, V> {
    shards: Box<[Mutex<Shard<K, V>>]>,
    hasher: RandomState,
    next_id: AtomicU64,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            next_id: AtomicU64::new(1),
        }
    }
}

impl<K, V> SingleFlight<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> MutexGuard<'_, Shard<K, V>> {
        let i = self.hasher.hash_one(key) as usize % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when a computation for `key` is running.
    pub fn running<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key).contains_key(key)
    }

    /// Computations running now, over every key.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// True when no computation is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Joins the flight of `key`, or starts one running `start()` in a spawned task.
    /// Returns its outcome (await it in the caller's request) and whether this call
    /// started it. Must be called inside a Tokio runtime.
    pub fn join_or_start<Q, F>(
        self: &Arc<Self>,
        key: &Q,
        start: impl FnOnce() -> F,
    ) -> (
        impl Future<Output = Result<V, Aborted>> + Send + 'static,
        bool,
    )
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: Future<Output = V> + Send + 'static,
    {
        let (flight, started) = {
            let mut shard = self.shard(key);
            match shard.get(key) {
                Some((_, flight)) => (flight.clone(), false),
                None => {
                    // Registered under the shard's lock: the task's own removal waits
                    // for it, so it always finds its entry.
                    // The key is copied only by the call that starts a flight.
                    let (id, flight) = self.launch(key.to_owned(), start());
                    shard.insert(key.to_owned(), (id, flight.clone()));
                    (flight, true)
                }
            }
        };
        let outcome = async move {
            let (value, redis_failed) = flight.await.ok_or(Aborted)?;
            budget::adopt(redis_failed);
            Ok(value)
        };
        (outcome, started)
    }

    /// Spawns `work` as flight `key`; the task removes its entry when it ends.
    fn launch<F>(self: &Arc<Self>, key: K, work: F) -> (u64, Flight<V>)
    where
        F: Future<Output = V> + Send + 'static,
    {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // Taken here, in the starting request's task: a spawned task has no budget,
        // and its log lines name the request that started it.
        let work = log_context::scope(log_context::current(), budget::in_flight(work));
        let registry = Arc::clone(self);
        let owned_key = key.clone();
        let handle = tokio::spawn(async move {
            let landed = std::panic::AssertUnwindSafe(work).catch_unwind().await.ok();
            if landed.is_none() {
                log::error!("a single-flight computation panicked");
            }
            registry.remove(&owned_key, id);
            landed
        });
        let registry = Arc::clone(self);
        let flight: Flight<V> = async move {
            // Err: cancelled by a runtime shutdown, so the task never removed itself.
            let landed = handle.await.ok().flatten();
            registry.remove(&key, id);
            landed
        }
        .boxed()
        .shared();
        (id, flight)
    }

    /// Removes the flight `id` of `key`, never a newer flight of the same key.
    fn remove(&self, key: &K, id: u64) {
        let mut shard = self.shard(key);
        if shard.get(key).is_some_and(|(i, _)| *i == id) {
            shard.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::budget::{self, RedisBudget};
    use brisk_testkit::wait::until;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;
    use tokio::sync::oneshot;

    type Flights = Arc<SingleFlight<String, u32>>;

    /// Waits until `flights` holds no flight, at most 5 s.
    async fn until_empty(flights: &Flights) {
        let empty = || std::future::ready(flights.is_empty());
        until("the flight to leave the map", Duration::from_secs(5), empty).await;
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_computation() {
        let flights: Flights = Arc::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, released) = oneshot::channel::<()>();
        let start = |runs: Arc<AtomicUsize>, released| {
            move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                let _ = released.await;
                7
            }
        };
        let (first, started) = flights.join_or_start("k", start(runs.clone(), released));
        let (_, never) = oneshot::channel::<()>();
        let (second, joined_started) = flights.join_or_start("k", start(runs.clone(), never));
        assert!(started && !joined_started);
        release.send(()).unwrap();
        assert_eq!((first.await, second.await), (Ok(7), Ok(7)));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        until_empty(&flights).await;
    }

    #[tokio::test]
    async fn a_flight_whose_callers_all_went_away_finishes_and_leaves_the_map() {
        let flights: Flights = Arc::default();
        let finished = Arc::new(AtomicUsize::new(0));
        let (release, released) = oneshot::channel::<()>();
        let done = finished.clone();
        let (caller, _) = flights.join_or_start("k", move || async move {
            let _ = released.await;
            done.fetch_add(1, Ordering::SeqCst);
            1
        });
        let (other, _) = flights.join_or_start("k", || async { 2 });
        drop((caller, other)); // every caller cancelled
        assert!(flights.running("k"), "the work goes on without callers");
        release.send(()).unwrap();
        until_empty(&flights).await;
        assert_eq!(
            finished.load(Ordering::SeqCst),
            1,
            "the work ran to its end"
        );
    }

    #[tokio::test]
    async fn a_panic_is_aborted_for_every_caller_and_leaves_the_map() {
        let flights: Flights = Arc::default();
        let (caller, _) = flights.join_or_start("k", || async { panic!("boom") });
        assert_eq!(caller.await, Err(Aborted));
        until_empty(&flights).await;
    }

    #[tokio::test]
    async fn a_redis_failure_inside_the_flight_spends_every_callers_budget() {
        let flights: Flights = Arc::default();
        let seen = RedisBudget::default()
            .scope(async {
                let (caller, _) = flights.join_or_start("k", || async {
                    budget::failed();
                    3
                });
                (caller.await, budget::spent())
            })
            .await;
        assert_eq!(seen, (Ok(3), true));
    }

    #[tokio::test]
    async fn the_work_logs_as_the_request_that_started_it() {
        use crate::metrics::log_context::{self, LogContext};
        let flights: Arc<SingleFlight<String, Option<LogContext>>> = Arc::default();
        let starter = LogContext::for_request(Arc::from("req-1"), None);
        let seen = log_context::scope(Some(starter.clone()), async {
            let (caller, started) = flights.join_or_start("k", || async { log_context::current() });
            assert!(started);
            caller.await
        })
        .await;
        assert_eq!(seen, Ok(Some(starter)));
    }
}
