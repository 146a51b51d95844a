//! The in-process single-flight registry: one computation per key at a time.
//!
//! A sharded map of std mutexes (held for a map operation, never across an await),
//! so a hit never touches it and a miss takes one shard lock. A computation runs in
//! a spawned task, not in the caller's future: actix drops a handler's future when
//! its client disconnects, and the callers that joined it must still get the value
//! (cf. moka `future/value_initializer.rs`, which solves the same problem with a
//! waiter guard). Callers await a `Shared` handle on the task; errors are shared
//! with the callers of that flight and never stored.

use super::envelope::Envelope;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::any::Any;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A computation's error, type-erased so flights of any error type share one map;
/// callers downcast it back to their own error type.
#[derive(Clone)]
pub struct ErasedError {
    /// The error itself (downcast to the caller's type).
    pub value: Arc<dyn Any + Send + Sync>,
    /// Its `Display`, for logs.
    pub message: Arc<str>,
}

/// Why a flight produced no value.
#[derive(Clone)]
pub enum FlightError {
    /// The computation failed; shared with this flight's callers only.
    Compute(ErasedError),
    /// The computation panicked or its runtime shut down.
    Aborted,
    /// A background refresh found another holder of the lease and did nothing.
    Skipped,
}

/// A flight's value and whether this process computed it.
#[derive(Clone)]
pub struct FlightValue {
    /// The entry served (not stored when computed outside the cache).
    pub envelope: Arc<Envelope>,
    /// False when another process computed it (we waited on its lease).
    pub computed_here: bool,
}

/// What a flight's callers receive.
pub type FlightResult = Result<FlightValue, FlightError>;
type SharedFlight = Shared<BoxFuture<'static, FlightResult>>;
type Shard = HashMap<String, (u64, SharedFlight)>;

const SHARDS: usize = 64;

/// Flights in progress, by flight key (entry key + generation).
pub struct Flights {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    next_id: AtomicU64,
}

impl Default for Flights {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            next_id: AtomicU64::new(1),
        }
    }
}

impl Flights {
    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, Shard> {
        let i = self.hasher.hash_one(key) as usize % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when a computation for `key` is running.
    pub fn running(&self, key: &str) -> bool {
        self.shard(key).contains_key(key)
    }

    /// Joins the flight for `key`, or starts one with `start()` in a spawned task.
    /// Returns the shared result and whether this call started it. Must be called
    /// inside a Tokio runtime.
    pub fn join_or_start(
        self: &Arc<Self>,
        key: &str,
        start: impl FnOnce() -> BoxFuture<'static, FlightResult>,
    ) -> (BoxFuture<'static, FlightResult>, bool) {
        let mut shard = self.shard(key);
        if let Some((_, flight)) = shard.get(key) {
            return (flight.clone().boxed(), false);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let work = start();
        let registry = Arc::clone(self);
        let owned_key = key.to_string();
        let handle = tokio::spawn(async move {
            // Catch a panic so the flight is always removed, even when no caller
            // awaits it (a background refresh).
            let result = match std::panic::AssertUnwindSafe(work).catch_unwind().await {
                Ok(result) => result,
                Err(_) => {
                    log::error!("cache computation panicked");
                    Err(FlightError::Aborted)
                }
            };
            // The value is in the store by now: later callers hit it, so the flight
            // can go. Compare ids so a newer flight of the same key is never removed.
            let mut shard = registry.shard(&owned_key);
            if shard.get(&owned_key).is_some_and(|(i, _)| *i == id) {
                shard.remove(&owned_key);
            }
            result
        });
        let registry = Arc::clone(self);
        let owned_key = key.to_string();
        let flight: SharedFlight = async move {
            match handle.await {
                Ok(result) => result,
                Err(_) => {
                    // Cancelled (runtime shutdown): the task never removed itself.
                    let mut shard = registry.shard(&owned_key);
                    if shard.get(&owned_key).is_some_and(|(i, _)| *i == id) {
                        shard.remove(&owned_key);
                    }
                    Err(FlightError::Aborted)
                }
            }
        }
        .boxed()
        .shared();
        shard.insert(key.to_string(), (id, flight.clone()));
        (flight.boxed(), true)
    }
}
