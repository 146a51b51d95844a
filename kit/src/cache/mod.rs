//! The cache: cached views and memoized calls, scoped, with stale-while-revalidate,
//! single-flight within a process and across processes, and invalidation by
//! generation counters. It owns its Redis keys (`keys`), the entry format
//! (`envelope`), TTL arithmetic (`ttl`), the stores (`store`), the in-process flight
//! registry (`flight`) and the hot-key counts the warming scheduler reads (`hot`).
//! It knows nothing of HTTP or the database: callers pass a computation.
//!
//! A read is one round trip, never a pass through an actor mailbox: a memoized
//! call MGETs its generation counter and its entry; a view runs one script that
//! returns the generation and the entry, or only the entry's header when the
//! payload is large (`payloads`): the header answers `If-None-Match` (304 without
//! moving the body) and names the ETag under which this process keeps a copy of the
//! payload. The generation lives in the entry and is compared on read (rather than
//! spliced into the key) so that both keys are declared to Redis and share the
//! scope's hash slot; writes store only if the generation is unchanged. On a miss,
//! callers of one key in this process share one spawned computation (`flight`),
//! which takes the key's Redis lease so that one process per cluster computes
//! (`lease`). Store failures never reach the caller: the value is computed and
//! served, and the failure is counted as `CacheEvent::Error`.
//!
//! Here: the types and the read API. `serve` is the read path, `lease` the
//! cross-process protocol, `thunk` the caller's computation as both run it,
//! `recipes` the registry of recomputations and `refresh` what runs them (warming,
//! preload), `writes` the invalidations (and the rule for reads while one is
//! pending). Time is read through the kit's [`Clock`].

pub mod envelope;
pub mod flight;
pub mod hot;
pub mod invalidate;
pub mod keys;
mod lease;
pub mod payloads;
pub mod prefetch;
mod recipes;
mod refresh;
mod serve;
pub mod store;
mod thunk;
pub mod ttl;
mod waiting;
pub mod wake;
mod writes;

#[cfg(test)]
pub(crate) mod tests;

use crate::metrics::{CacheEvent, CacheKind, Metrics};
use crate::redis::Redis;
use bytes::Bytes;
use envelope::parse_if_none_match;
use hot::HotKeys;
use invalidate::Invalidations;
use payloads::Payloads;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use store::{MemoryStore, Read, RedisStore, Store};

pub use crate::clock::{Clock, ManualClock};
pub use invalidate::InvalidationStats;
pub use keys::Scope;
pub use recipes::RecipeFn;
pub use refresh::RefreshOutcome;

/// Default TTL jitter, in percent of the TTL either way.
pub const DEFAULT_JITTER_PCT: u8 = 10;
/// Default stale window after the soft expiry, in percent of the TTL.
pub const DEFAULT_STALE_PCT: u16 = 100;
/// Default length of a single-flight lease.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);
/// Default wait for another process's computation.
pub const DEFAULT_LEASE_WAIT: Duration = Duration::from_secs(3);
/// Default time Redis is bypassed after an error.
pub const DEFAULT_BREAKER: Duration = Duration::from_millis(500);
/// Default number of blocking connections for waiters on another process's lease.
pub const DEFAULT_WAITER_CONNECTIONS: u32 = 4;
/// Default half-life of the hot-key access counts.
pub const DEFAULT_HOT_HALF_LIFE: Duration = Duration::from_secs(60);

/// Cache settings (`config` builds them from the command line; tests build them
/// directly).
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// False: every call computes (the "cache off" benchmark).
    pub enabled: bool,
    /// TTL jitter as a fraction either way (0.1 = ±10 %).
    pub jitter: f64,
    /// Stale window as a fraction of the TTL (hard TTL = soft × (1 + this)).
    pub stale_fraction: f64,
    /// How long a single-flight lease lasts.
    pub lease_ttl: Duration,
    /// How long a caller waits for another process's computation.
    pub lease_wait: Duration,
    /// How long Redis is bypassed after an error.
    pub breaker: Duration,
    /// Half-life of the hot-key access counts.
    pub hot_half_life: Duration,
    /// Blocking connections (a bb8-redis pool) on which waiters for another
    /// process's computation wait for its wake-up (`wake`); 0: they poll.
    pub waiter_connections: u32,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            jitter: f64::from(DEFAULT_JITTER_PCT) / 100.0,
            stale_fraction: f64::from(DEFAULT_STALE_PCT) / 100.0,
            lease_ttl: DEFAULT_LEASE_TTL,
            lease_wait: DEFAULT_LEASE_WAIT,
            breaker: DEFAULT_BREAKER,
            hot_half_life: DEFAULT_HOT_HALF_LIFE,
            waiter_connections: DEFAULT_WAITER_CONNECTIONS,
        }
    }
}

/// A cached view's identity. The scope is mandatory; the query is the raw query
/// string, normalized here (`only` restricts it to the parameters the view reads).
#[derive(Debug, Clone, Copy)]
pub struct ViewKey<'a> {
    /// Invalidation group: `bump_namespace(scope, namespace)` drops every view of it.
    pub namespace: &'a str,
    /// The route pattern (never the raw path), e.g. `/v1/catalog`.
    pub route: &'a str,
    /// The raw query string (with or without `?`).
    pub query: &'a str,
    /// When set, only these query parameters are part of the key.
    pub only: Option<&'a [&'a str]>,
    /// Who may see the view (part of every key).
    pub scope: Scope,
}

/// A cached view's answer.
#[derive(Debug, Clone)]
pub struct CachedBody {
    /// Strong, quoted ETag of the body.
    pub etag: Arc<str>,
    /// `None` when `If-None-Match` matched: answer 304 (the body was not read).
    pub body: Option<Bytes>,
    /// What the cache did, for the access log (response extensions) and metrics.
    pub outcome: CacheEvent,
}

/// A memoized call's answer.
#[derive(Debug, Clone)]
pub struct Memo<T> {
    /// The decoded value.
    pub value: T,
    /// The value's JSON, as stored (a handler can send it as is).
    pub json: Bytes,
    /// Strong, quoted ETag of `json`.
    pub etag: Arc<str>,
    /// What the cache did.
    pub outcome: CacheEvent,
}

struct Inner {
    store: Arc<Store>,
    /// Failed invalidations and their retry task.
    invalidations: Arc<Invalidations>,
    prefix: String,
    metrics: Metrics,
    config: CacheConfig,
    clock: Clock,
    flights: Arc<flight::Flights>,
    hot: HotKeys,
    payloads: Payloads,
    recipes: recipes::Recipes,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The retrier holds the store and the pending set, not the cache: stop it.
        self.invalidations.stop();
    }
}

/// The process's cache handle: cheap to clone (an `Arc`), built once in startup.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl Cache {
    /// Builds the cache on the system clock, its entries in `redis` (the process-wide
    /// multiplexed connection; every key starts with the handle's prefix), or in
    /// in-process maps without one ([`Store::Memory`](crate::services::Store)). Never
    /// fails and never connects: Redis may be down at start-up.
    pub fn new(redis: Option<Redis>, metrics: Metrics, config: CacheConfig) -> Self {
        Self::with_clock(redis, metrics, config, Clock::system())
    }

    /// [`Cache::new`] reading the time from `clock` (soft expiries, the breaker,
    /// the invalidation overflow window): tests pass a [`ManualClock`]'s.
    pub fn with_clock(
        redis: Option<Redis>,
        metrics: Metrics,
        config: CacheConfig,
        clock: Clock,
    ) -> Self {
        let (store, prefix) = match redis {
            Some(redis) => {
                let prefix = redis.prefix().to_string();
                let store = RedisStore::new(redis, config.breaker, clock.clone())
                    .with_waiter_connections(config.waiter_connections);
                (Store::Redis(Box::new(store)), prefix)
            }
            None => (Store::Memory(MemoryStore::default()), "mem".to_string()),
        };
        let invalidations =
            Invalidations::new(invalidate::MAX_PENDING, config.lease_ttl, clock.clone())
                .with_metrics(metrics.clone());
        Self {
            inner: Arc::new(Inner {
                store: Arc::new(store),
                invalidations: Arc::new(invalidations),
                prefix,
                metrics,
                hot: HotKeys::new(config.hot_half_life),
                config,
                clock,
                flights: Arc::default(),
                payloads: Payloads::default(),
                recipes: recipes::Recipes::default(),
            }),
        }
    }

    /// The metrics this cache records into.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The clock this cache reads (the warming scheduler compares soft expiries to it).
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The hot-key counts (read by the warming scheduler).
    pub fn hot(&self) -> &HotKeys {
        &self.inner.hot
    }

    /// A cached view: the JSON body for `key`, computed by `compute` on a miss.
    /// `if_none_match` is the request's header; when it matches the stored ETag the
    /// answer has no body (send 304). `compute` must own what it uses (it may run in
    /// a spawned task that outlives the caller) and be `Clone` (it may run again as a
    /// fallback when the store fails).
    pub async fn view<E, F, Fut>(
        &self,
        key: ViewKey<'_>,
        ttl: Duration,
        if_none_match: Option<&str>,
        compute: F,
    ) -> Result<CachedBody, E>
    where
        E: Display + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
    {
        let query = keys::normalize_query(key.query, key.only);
        let entry_keys = self.view_keys(key, &query);
        let candidates = if_none_match.map(parse_if_none_match);
        let recipe = recipes::view_recipe_id(key.namespace, key.route);
        let read = payloads::VIEW_READ;
        let hot = Some((recipe.as_str(), key.scope, query.as_str()));
        let served =
            (self.serve(&entry_keys, ttl, read, candidates.as_deref(), compute, hot)).await?;
        let matched = (candidates.as_deref())
            .is_some_and(|c| envelope::if_none_match_matches(c, &served.envelope.etag));
        let mut body = CachedBody::from(served);
        if matched {
            body.body = None;
        }
        Ok(body)
    }

    /// A memoized call: `compute()`'s value for (`name`, `args`, `scope`), stored as
    /// JSON. Same ownership rules for `compute` as [`Cache::view`].
    pub async fn memoize<T, A, E, F, Fut>(
        &self,
        name: &str,
        args: &A,
        scope: Scope,
        ttl: Duration,
        compute: F,
    ) -> Result<Memo<T>, E>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + ?Sized,
        E: Display + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let Ok(args_json) = serde_json::to_string(args) else {
            // Unserializable arguments cannot be keyed: compute without the cache.
            return self.compute_uncached(compute).await;
        };
        let entry_keys = keys::memo_keys(&self.inner.prefix, scope, name, &args_json);
        let recipe = recipes::memo_recipe_id(name);
        let hot = Some((recipe.as_str(), scope, args_json.as_str()));
        let to_json = thunk::to_json(compute.clone());
        for attempt in 0..2 {
            let served =
                (self.serve(&entry_keys, ttl, Read::Whole, None, to_json.clone(), hot)).await?;
            match served.decode::<T>() {
                Ok(memo) => return Ok(memo),
                Err(e) if attempt == 0 => {
                    // Written by another version of the type: drop it and recompute.
                    log::warn!("memoized {name} does not decode ({e}); recomputing");
                    let (generation, entry) = (&entry_keys.generation, &entry_keys.entry);
                    let _ = self.inner.store.bump(generation, Some(entry)).await;
                }
                Err(_) => break,
            }
        }
        self.compute_uncached(compute).await
    }

    /// A memoized call whose value is already JSON (or any bytes): no decoding on a
    /// hit, the stored bytes are handed back as they are. Keyed like [`Cache::memoize`]
    /// (same name + arguments + scope = same entry), with the same rules for `compute`.
    pub async fn memoize_bytes<A, E, F, Fut>(
        &self,
        name: &str,
        args: &A,
        scope: Scope,
        ttl: Duration,
        compute: F,
    ) -> Result<CachedBody, E>
    where
        A: Serialize + ?Sized,
        E: Display + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
    {
        let Ok(args_json) = serde_json::to_string(args) else {
            return Ok(self.direct(CacheKind::Memo, compute).await?.into());
        };
        let entry_keys = keys::memo_keys(&self.inner.prefix, scope, name, &args_json);
        let recipe = recipes::memo_recipe_id(name);
        let hot = Some((recipe.as_str(), scope, args_json.as_str()));
        let served = self
            .serve(&entry_keys, ttl, Read::Whole, None, compute, hot)
            .await?;
        Ok(served.into())
    }
}
