//! Post-commit invalidations that did not reach the store, kept until they do.
//!
//! An invalidation (a namespace bump, a memo delete) is the only thing that tells
//! every process that an entry is old, so it is never dropped on a Redis failure:
//! it is recorded here, by generation key (deduplicated), and a background task
//! retries it with backoff until Redis takes it. While one is pending, reads of its
//! keys in this process bypass the cache (`Cache::serve` asks [`Invalidations::blocking`]).
//!
//! The retrier is an actix actor ([`Retrier`]) under a supervisor (`crate::supervise`)
//! owned by the `Cache`, through this set, which holds its address: started on the
//! first failure (on the caller's arbiter, or on a System of its own outside actix),
//! it retries while anything is pending, goes idle once the set is empty (the next
//! failure wakes it), and is sent `Shutdown` and let go when the cache is dropped. A
//! round that panics stops it, the supervisor restarts it (counted as
//! `brisk_actor_restarts_total{actor="invalidation_retrier"}`) and the retries go on.
//! A read that finds its key pending starts a new one if it died with its arbiter (an
//! actix worker that stopped).
//!
//! The set is bounded ([`MAX_PENDING`]). When it is full, a new invalidation cannot
//! be remembered; the safe fallback is that this process bypasses the cache for
//! *every* read until every entry that the lost invalidation should have removed has
//! reached its hard TTL (the longest hard TTL this process wrote, plus the lease TTL
//! for a computation that started before the commit and stored after it). Other
//! processes are not told about a lost invalidation: they may serve the old value
//! until its hard TTL, and the loss is logged as an error and counted.

use super::store::Store;
use crate::clock::Clock;
use crate::metrics::{InvalidationOutcome, Metrics};
use crate::supervise::{self, Background, Shutdown, Supervision};
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Most invalidations remembered at once (distinct generation keys).
pub const MAX_PENDING: usize = 10_000;
/// First retry delay; doubled after each failed round up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Invalidations retried per round (the rest wait for the next, short, round).
const BATCH: usize = 512;
/// The retrier's name in logs and in `brisk_actor_restarts_total`.
pub const ACTOR: &str = "invalidation_retrier";

struct Op {
    /// The memoized entry to delete with the bump (`None` for a namespace).
    entry: Option<String>,
    /// When it was (last) recorded: a later bump covers it, an earlier one may not.
    seq: u64,
}

/// Counts of what happened to invalidations in this set. `Metrics` counts them too
/// (`brisk_cache_invalidations_total`: applied, deferred, retried, dropped); failures
/// when issued are also `CacheEvent::Error` of kind `invalidation`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvalidationStats {
    /// Invalidations waiting for Redis now.
    pub pending: usize,
    /// Invalidations that failed when issued (also counted as `CacheEvent::Error`).
    pub failed: u64,
    /// Pending invalidations that a retry applied.
    pub retried: u64,
    /// Retry attempts that failed.
    pub retry_failures: u64,
    /// Invalidations lost because the set was full (see the module doc).
    pub dropped: u64,
}

/// The pending set and its retry task.
pub struct Invalidations {
    ops: Mutex<HashMap<String, Op>>,
    /// `ops.len()`, readable without the lock (the read path's fast check).
    len: AtomicUsize,
    capacity: usize,
    /// Sequence of recorded failures.
    seq: AtomicU64,
    /// Invalidations issued by this process (pending or not); part of the key of a
    /// computation shared while the store is bypassed, so a read issued after an
    /// invalidation never joins a computation that started before it.
    issued: AtomicU64,
    /// Unix ms until which every read bypasses the cache (after an overflow).
    bypass_all_until_ms: AtomicU64,
    /// Longest hard TTL written by this process, and the lease TTL (the overflow
    /// fallback's horizon).
    max_hard_ttl_ms: AtomicU64,
    lease_ttl_ms: u64,
    /// Times the overflow fallback.
    clock: Clock,
    /// A retrier is retrying (not idle): the failure that sets it wakes one.
    running: AtomicBool,
    /// The retrier's address, with the generation it was started as (the owner's
    /// handle: dropping it, after `Shutdown`, ends the actor).
    retrier: Mutex<Option<(u64, Addr<Retrier>)>>,
    /// Generations of retriers started.
    generations: AtomicU64,
    /// Where retrier restarts are counted.
    metrics: Metrics,
    failed: AtomicU64,
    retried: AtomicU64,
    retry_failures: AtomicU64,
    dropped: AtomicU64,
}

impl Invalidations {
    /// An empty set of at most `capacity` keys; `clock` times the overflow fallback.
    pub fn new(capacity: usize, lease_ttl: Duration, clock: Clock) -> Self {
        Self {
            ops: Mutex::default(),
            len: AtomicUsize::new(0),
            capacity: capacity.max(1),
            seq: AtomicU64::new(0),
            issued: AtomicU64::new(0),
            bypass_all_until_ms: AtomicU64::new(0),
            max_hard_ttl_ms: AtomicU64::new(0),
            lease_ttl_ms: lease_ttl.as_millis() as u64,
            clock,
            running: AtomicBool::new(false),
            retrier: Mutex::default(),
            generations: AtomicU64::new(0),
            metrics: Metrics::default(),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            retry_failures: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Counts the retrier's restarts in `metrics` (the cache's) instead of a private
    /// registry; the counter shows from now on, before any retrier starts.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        metrics.register_actor(ACTOR);
        self.metrics = metrics;
        self
    }

    fn retrier(&self) -> MutexGuard<'_, Option<(u64, Addr<Retrier>)>> {
        self.retrier.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ops(&self) -> std::sync::MutexGuard<'_, HashMap<String, Op>> {
        // Held for a map operation only; a panic elsewhere leaves the map usable.
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called before an invalidation's store call; returns the sequence to pass to
    /// [`Invalidations::applied`] if it succeeds.
    pub fn begin(&self) -> u64 {
        self.issued.fetch_add(1, Ordering::SeqCst);
        self.seq.load(Ordering::SeqCst)
    }

    /// Invalidations issued so far by this process.
    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::SeqCst)
    }

    /// Records that this process wrote an entry with this hard TTL.
    pub fn note_hard_ttl(&self, hard: Duration) {
        self.max_hard_ttl_ms
            .fetch_max(hard.as_millis() as u64, Ordering::Relaxed);
    }

    /// A store bump that started when the sequence was `started` succeeded: it covers
    /// every failure of the same key recorded before it started (their commits came
    /// first). A failure recorded since may belong to a commit after the bump: kept.
    pub fn applied(&self, generation_key: &str, started: u64) {
        if self.len.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut ops = self.ops();
        if ops.get(generation_key).is_some_and(|op| op.seq <= started) {
            ops.remove(generation_key);
            self.len.store(ops.len(), Ordering::SeqCst);
        }
    }

    /// Remembers a failed invalidation. False when the set is full: the
    /// invalidation is lost and every read bypasses the cache for a while (module doc).
    pub fn record(&self, generation_key: &str, entry: Option<&str>) -> bool {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut ops = self.ops();
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(op) = ops.get_mut(generation_key) {
            op.seq = seq;
            if op.entry.is_none() {
                op.entry = entry.map(str::to_string);
            }
            return true;
        }
        if ops.len() >= self.capacity {
            drop(ops);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            let horizon = self.max_hard_ttl_ms.load(Ordering::Relaxed) + self.lease_ttl_ms;
            self.bypass_all_until_ms
                .fetch_max(self.clock.now_ms() + horizon, Ordering::SeqCst);
            return false;
        }
        ops.insert(
            generation_key.to_string(),
            Op {
                entry: entry.map(str::to_string),
                seq,
            },
        );
        self.len.store(ops.len(), Ordering::SeqCst);
        true
    }

    /// `Some(tag)` when a read of an entry under `generation_key` must not be served
    /// from the cache: an invalidation of it is pending (or one was lost). The tag
    /// changes with every recorded failure: computations shared under it started
    /// after the last failed invalidation.
    pub fn blocking(&self, generation_key: &str) -> Option<u64> {
        if self.clock.now_ms() < self.bypass_all_until_ms.load(Ordering::Relaxed) {
            return Some(self.seq.load(Ordering::SeqCst));
        }
        if self.len.load(Ordering::SeqCst) == 0 {
            return None;
        }
        self.ops().get(generation_key).map(|op| op.seq)
    }

    /// Invalidations waiting now.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::SeqCst)
    }

    /// Whether the retrier is retrying (not idle, not stopped).
    pub fn retrying(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// Nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What happened to invalidations so far.
    pub fn stats(&self) -> InvalidationStats {
        InvalidationStats {
            pending: self.len(),
            failed: self.failed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            retry_failures: self.retry_failures.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    fn snapshot(&self) -> Vec<(String, Option<String>)> {
        self.ops()
            .iter()
            .take(BATCH)
            .map(|(k, op)| (k.clone(), op.entry.clone()))
            .collect()
    }

    /// Wakes the retrier unless it is retrying or nothing is pending; starts one
    /// when there is none (or it died with its arbiter). Outside actix the retrier
    /// gets a System of its own, so any caller will do.
    pub fn ensure_retrier(self: &Arc<Self>, store: &Arc<Store>) {
        if self.is_empty() || self.running.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut slot = self.retrier();
        if let Some((_, addr)) = slot.as_ref().filter(|(_, addr)| addr.connected()) {
            addr.do_send(Wake);
            return;
        }
        let generation = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        let retrier = Retrier {
            invalidations: Arc::clone(self),
            store: Arc::clone(store),
            generation,
            backoff: FIRST_BACKOFF,
            round: None,
            supervision: Supervision::new(ACTOR, self.metrics.clone()),
        };
        match supervise::start_anywhere(move |_ctx| retrier) {
            Ok(addr) => *slot = Some((generation, addr)),
            Err(e) => {
                // The next failure or blocked read tries again.
                self.running.store(false, Ordering::SeqCst);
                log::error!("cannot start the cache invalidation retrier: {e}");
            }
        }
    }

    /// One pass over the pending set (at most one batch): true if no attempt failed.
    pub async fn retry_once(&self, store: &Store) -> bool {
        for (generation_key, entry) in self.snapshot() {
            let started = self.seq.load(Ordering::SeqCst);
            match store.bump_now(&generation_key, entry.as_deref()).await {
                Ok(_) => {
                    self.retried.fetch_add(1, Ordering::Relaxed);
                    self.metrics.invalidation(InvalidationOutcome::Retried);
                    self.applied(&generation_key, started);
                }
                Err(e) => {
                    self.retry_failures.fetch_add(1, Ordering::Relaxed);
                    log::debug!("retry of cache invalidation {generation_key} failed: {e}");
                    // Redis is still unwell: back off instead of failing the rest.
                    return false;
                }
            }
        }
        true
    }

    /// Stops the retrier for good (the cache is being dropped): `Shutdown` cancels its
    /// round, and dropping the owner's address lets it end.
    pub fn stop(&self) {
        if let Some((_, addr)) = self.retrier().take() {
            addr.do_send(Shutdown);
        }
    }
}

/// Wakes an idle retrier: something is pending again.
#[derive(Message)]
#[rtype(result = "()")]
struct Wake;

/// The retry actor: retries with exponential backoff while anything is pending, then
/// idles until [`Wake`].
pub struct Retrier {
    invalidations: Arc<Invalidations>,
    store: Arc<Store>,
    /// Which start of the retrier this is (the slot's entry is cleared only by its own).
    generation: u64,
    backoff: Duration,
    /// The round in progress (its wait included).
    round: Option<SpawnHandle>,
    supervision: Supervision,
}

impl Retrier {
    /// Starts a round after `delay` unless one is on its way.
    fn schedule(&mut self, ctx: &mut Context<Self>, delay: Duration) {
        if self.round.is_some() {
            return;
        }
        let (invalidations, store) = (Arc::clone(&self.invalidations), Arc::clone(&self.store));
        let round = async move {
            tokio::time::sleep(delay).await;
            supervise::injected_fault(ACTOR);
            invalidations.retry_once(&store).await
        };
        let round = supervise::guarded(ACTOR, round).map(|outcome, act: &mut Self, ctx| {
            act.round = None;
            if let Some(all_applied) = outcome {
                act.after_round(all_applied, ctx);
            }
        });
        self.round = Some(ctx.spawn(round));
    }

    /// Backs off after a failed attempt; goes idle once nothing is pending.
    fn after_round(&mut self, all_applied: bool, ctx: &mut Context<Self>) {
        self.supervision.round_completed();
        self.backoff = if all_applied {
            FIRST_BACKOFF
        } else {
            (self.backoff * 2).min(MAX_BACKOFF)
        };
        let invalidations = &self.invalidations;
        if invalidations.is_empty() {
            // Hand the role back, then look again: a failure recorded between the check
            // and the store saw `running` and did not wake us.
            invalidations.running.store(false, Ordering::SeqCst);
            if invalidations.is_empty() || invalidations.running.swap(true, Ordering::SeqCst) {
                log::info!("pending cache invalidations applied");
                return;
            }
        }
        self.schedule(ctx, self.backoff);
    }
}

impl Actor for Retrier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Started because something is pending, or restarted in the middle of retrying.
        if self.invalidations.running.load(Ordering::SeqCst) {
            let delay = self.backoff.max(self.supervision.resume_delay());
            self.schedule(ctx, delay);
        }
    }
}

impl Supervised for Retrier {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // The restarted context dropped the round in progress.
        self.round = None;
        self.supervision.restarting();
    }
}

impl Background for Retrier {
    fn supervision(&mut self) -> &mut Supervision {
        &mut self.supervision
    }
}

impl Handler<Wake> for Retrier {
    type Result = ();

    fn handle(&mut self, _msg: Wake, ctx: &mut Self::Context) {
        self.schedule(ctx, self.backoff);
    }
}

impl Handler<Shutdown> for Retrier {
    type Result = ();

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Self::Context) {
        if let Some(round) = self.round.take() {
            ctx.cancel_future(round);
        }
    }
}

impl Drop for Retrier {
    /// Gone for good (stopped, or its arbiter ended): the next failure or blocked
    /// read starts another. The slot is cleared first, under its lock, so a caller
    /// that then takes the role finds no address to wake and starts one.
    fn drop(&mut self) {
        let invalidations = &self.invalidations;
        let mut slot = invalidations.retrier();
        if slot.as_ref().is_some_and(|(g, _)| *g == self.generation) {
            *slot = None;
        }
        invalidations.running.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::store::MemoryStore;
    use brisk_testkit::wait::until;
    use std::future::ready;

    /// How long a test waits for the retrier.
    const WITHIN: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn the_retrier_applies_what_is_pending_idles_and_ends_with_its_owner() {
        let metrics = Metrics::new();
        let inv = Arc::new(
            Invalidations::new(10, Duration::from_secs(1), Clock::system())
                .with_metrics(metrics.clone()),
        );
        let store = Arc::new(Store::Memory(MemoryStore::default()));
        assert!(inv.record("g1", None));
        inv.ensure_retrier(&store);
        assert!(inv.retrying());
        until("g1 to be applied", WITHIN, || {
            ready(inv.is_empty() && !inv.retrying())
        })
        .await;
        // Idle, not gone: the next failure wakes the same actor.
        assert!(inv.record("g2", None));
        inv.ensure_retrier(&store);
        until("g2 to be applied", WITHIN, || {
            ready(inv.is_empty() && !inv.retrying())
        })
        .await;
        assert_eq!(inv.stats().retried, 2);
        assert_eq!(
            inv.generations.load(Ordering::SeqCst),
            1,
            "woken, not restarted"
        );
        let text = metrics.render_prometheus();
        let line = r#"brisk_actor_restarts_total{actor="invalidation_retrier"} 0"#;
        assert!(text.lines().any(|l| l == line), "{text}");
        inv.stop();
        until("the actor to let go of the set", WITHIN, || {
            ready(Arc::strong_count(&inv) == 1)
        })
        .await;
    }

    #[test]
    fn failures_are_deduplicated_by_key_and_cleared_only_by_a_later_bump() {
        let inv = Invalidations::new(10, Duration::from_secs(1), Clock::system());
        assert_eq!(inv.blocking("g1"), None);
        let started_before = inv.begin();
        assert!(inv.record("g1", None));
        assert!(inv.record("g1", Some("e1")));
        assert_eq!(inv.len(), 1);
        let tag = inv.blocking("g1").unwrap();
        assert_eq!(inv.blocking("g2"), None);
        // A bump that started before the last failure does not cover it.
        inv.applied("g1", started_before);
        assert_eq!(inv.blocking("g1"), Some(tag));
        let started_after = inv.begin();
        inv.applied("g1", started_after);
        assert_eq!((inv.blocking("g1"), inv.len()), (None, 0));
        assert_eq!(inv.stats().failed, 2);
    }

    #[test]
    fn a_full_set_drops_the_invalidation_and_bypasses_every_read() {
        let manual = crate::clock::ManualClock::new();
        let inv = Invalidations::new(2, Duration::from_secs(1), manual.clock());
        inv.note_hard_ttl(Duration::from_secs(60));
        assert!(inv.record("g1", None));
        assert!(inv.record("g2", None));
        // Already pending: deduplicated, still fits.
        assert!(inv.record("g1", None));
        assert_eq!(inv.blocking("other"), None);
        assert!(!inv.record("g3", None));
        assert_eq!(inv.stats().dropped, 1);
        assert!(inv.blocking("other").is_some(), "every key bypassed");
        let until = inv.bypass_all_until_ms.load(Ordering::SeqCst);
        let now = manual.clock().now_ms();
        assert!(until >= now + 60_000 && until <= now + 62_000);
        // Once every entry the lost invalidation covered has expired, reads use the
        // cache again.
        manual.advance(Duration::from_millis(until - now));
        assert_eq!(inv.blocking("other"), None);
    }
}
