//! The write side: what a committed write tells the cache (a namespace bump, a
//! memoized entry's delete), and the shutdown flush of invalidations that did not
//! reach the store yet.
//!
//! Invalidations (`bump_namespace`, `delete_memo`, called after the commit) try Redis
//! unless it is known to be failing (the breaker is open, or Redis already failed in
//! this request): a write never waits on a hung Redis more than once. One that fails,
//! or is not tried, is not dropped: it is kept in this process's pending set
//! (`invalidate`, deduplicated by generation key, bounded) and a background task owned
//! by the cache retries it with backoff until Redis takes it (the retrier tries
//! whatever the breaker says). The rule that keeps "the next read after the write's
//! response sees the new value" meanwhile: **while an invalidation of a generation
//! key is pending in this process, every read in this process of an entry under
//! that key (every view of the (scope, namespace); the one memoized entry) bypasses
//! the cache**: it is computed from the source, not stored, and shared only with
//! reads that also began after the last failed invalidation of that key. Once the
//! retry lands, the generation has moved and reads use the cache again (the first
//! one misses). Other processes see the invalidation when the retry lands; until
//! then they may serve the old value (they cannot be told without Redis). If the
//! pending set is full, this process bypasses the cache for every key for a while
//! (`invalidate`'s module doc).

use super::store::StoreError;
use super::{invalidate, keys, Cache, InvalidationStats, Scope};
use crate::metrics::{CacheEvent, CacheKind, InvalidationOutcome};
use serde::Serialize;
use std::time::{Duration, Instant};

impl Cache {
    /// Invalidates one memoized entry (call after the commit). Also defeats a
    /// computation of it that started before and finishes after: its generation is
    /// stale, so it is not stored.
    pub async fn delete_memo<A: Serialize + ?Sized>(&self, name: &str, args: &A, scope: Scope) {
        let Ok(args_json) = serde_json::to_string(args) else {
            return;
        };
        let k = keys::memo_keys(&self.inner.prefix, scope, name, &args_json);
        self.invalidate(&k.generation, Some(&k.entry), name).await;
    }

    /// Invalidates every view of `namespace` in `scope` (call after the commit) by
    /// bumping its generation counter: no KEYS, SCAN or FLUSH.
    pub async fn bump_namespace(&self, scope: Scope, namespace: &str) {
        let key = keys::namespace_generation_key(&self.inner.prefix, scope, namespace);
        self.invalidate(&key, None, namespace).await;
    }

    /// Bumps `generation_key` (deleting `entry_key`); when Redis fails, or is not
    /// tried because it is failing, keeps it pending and makes sure the retry task runs.
    async fn invalidate(&self, generation_key: &str, entry_key: Option<&str>, what: &str) {
        let inner = &self.inner;
        let started = inner.invalidations.begin();
        let Err(e) = inner.store.bump(generation_key, entry_key).await else {
            inner.invalidations.applied(generation_key, started);
            inner.metrics.invalidation(InvalidationOutcome::Applied);
            return;
        };
        inner
            .metrics
            .cache_of(CacheKind::Invalidation, CacheEvent::Error);
        let not_tried = matches!(e, StoreError::BreakerOpen | StoreError::Skipped);
        if inner.invalidations.record(generation_key, entry_key) {
            inner.metrics.invalidation(InvalidationOutcome::Deferred);
            if not_tried {
                log::debug!("cache invalidation of {what} deferred to the retrier ({e})");
            } else {
                log::warn!(
                    "cache invalidation of {what} failed ({e}); retrying in the background, \
                 its reads bypass the cache here until then"
                );
            }
        } else {
            inner.metrics.invalidation(InvalidationOutcome::Dropped);
            log::error!(
                "cache invalidation of {what} failed ({e}) and {} are already pending: \
                 dropped; this process bypasses the cache until its entries expire",
                invalidate::MAX_PENDING
            );
        }
        inner.invalidations.ensure_retrier(&inner.store);
    }

    /// What happened to this process's invalidations (pending, failed, retried).
    pub fn invalidation_stats(&self) -> InvalidationStats {
        self.inner.invalidations.stats()
    }

    /// Tries the pending invalidations now until none is left or `within` passes
    /// (call at shutdown, after the server stopped: a process that exits with some
    /// pending leaves other processes serving old values until their TTL). Returns
    /// how many are still pending.
    pub async fn flush_invalidations(&self, within: Duration) -> usize {
        let inner = &self.inner;
        // Real time, not the cache's clock: this bounds how long shutdown waits.
        let deadline = Instant::now() + within;
        let mut delay = Duration::from_millis(10);
        while !inner.invalidations.is_empty() && Instant::now() < deadline {
            if !inner.invalidations.retry_once(&inner.store).await {
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(delay.min(left)).await;
                delay = (delay * 2).min(Duration::from_millis(200));
            }
        }
        inner.invalidations.len()
    }
}
