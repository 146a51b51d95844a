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
//! callers of one key in this process share one spawned computation (`flight`); that
//! computation takes a Redis lease (`SET NX PX`) so that one process per cluster
//! computes, and the others poll with a short backoff until the value lands (bounded
//! by `lease_wait`), then serve stale or compute themselves if the holder died.
//! Store failures never reach the caller: the value is computed and served, and the
//! failure is counted as `CacheEvent::Error`.
//!
//! Invalidations (`bump_namespace`, `delete_memo`, called after the commit) always
//! try Redis, even while the read breaker is open. One that fails is not dropped: it
//! is kept in this process's pending set (`invalidate`, deduplicated by generation
//! key, bounded) and a background task owned by the cache retries it with backoff
//! until Redis takes it. The rule that keeps "the next read after the write's
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

pub mod envelope;
pub mod flight;
pub mod hot;
pub mod invalidate;
pub mod keys;
pub mod payloads;
pub mod store;
pub mod ttl;

#[cfg(test)]
mod tests;

use crate::metrics::{CacheEvent, Metrics};
use crate::redis::Redis;
use bytes::Bytes;
use envelope::{if_none_match_matches, parse_if_none_match, Envelope};
use flight::{ErasedError, FlightError, FlightResult, FlightValue, Flights};
use futures_util::future::{BoxFuture, FutureExt};
use hot::{HotKeys, HotRecord};
use invalidate::Invalidations;
use payloads::Payloads;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use store::{MemoryStore, Read, RedisStore, Store};
use ttl::now_ms;

pub use invalidate::InvalidationStats;
pub use keys::Scope;

/// Cache settings (built from `config::CacheArgs`; tests build them directly).
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
}

impl Default for CacheConfig {
    fn default() -> Self {
        use crate::config::cache as d;
        Self {
            enabled: true,
            jitter: f64::from(d::DEFAULT_JITTER_PCT) / 100.0,
            stale_fraction: f64::from(d::DEFAULT_STALE_PCT) / 100.0,
            lease_ttl: Duration::from_millis(d::DEFAULT_LEASE_MS),
            lease_wait: Duration::from_millis(d::DEFAULT_WAIT_MS),
            breaker: Duration::from_millis(d::DEFAULT_BREAKER_MS),
            hot_half_life: Duration::from_millis(d::DEFAULT_WARM_HALF_LIFE_MS),
        }
    }
}

/// Which store backs the cache.
pub enum Backend {
    /// Shared Redis (the process-wide multiplexed connection).
    Redis(Redis),
    /// In-process maps (`--store memory`).
    Memory,
}

/// A cached view's identity. The scope is mandatory; the query is the raw query
/// string, normalized here (`only` restricts it to the parameters the view reads).
#[derive(Debug, Clone, Copy)]
pub struct ViewKey<'a> {
    /// Invalidation group: `bump_namespace(scope, namespace)` drops every view of it.
    pub namespace: &'a str,
    /// The route pattern (never the raw path), e.g. `/api/catalog`.
    pub route: &'a str,
    /// The raw query string (with or without `?`).
    pub query: &'a str,
    /// When set, only these query parameters are part of the key.
    pub only: Option<&'a [&'a str]>,
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
    pub value: T,
    /// The value's JSON, as stored (a handler can send it as is).
    pub json: Bytes,
    pub etag: Arc<str>,
    pub outcome: CacheEvent,
}

/// A registered computation, used by the warming scheduler and the start-up preload
/// to recompute an entry without a request.
pub type RecipeFn =
    Arc<dyn Fn(Scope, Arc<str>) -> BoxFuture<'static, Result<Bytes, String>> + Send + Sync>;
type PreloadFn = Arc<dyn Fn() -> BoxFuture<'static, Vec<(Scope, String)>> + Send + Sync>;

#[derive(Clone)]
enum RecipeKind {
    View {
        namespace: Arc<str>,
        route: Arc<str>,
    },
    Memo {
        name: Arc<str>,
    },
}

#[derive(Clone)]
struct Recipe {
    kind: RecipeKind,
    ttl: Duration,
    compute: RecipeFn,
}

fn view_recipe_id(namespace: &str, route: &str) -> String {
    format!("view:{namespace}:{route}")
}

fn memo_recipe_id(name: &str) -> String {
    format!("memo:{name}")
}

/// What a background refresh of one entry did (warming, preload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Recomputed and stored by this process.
    Refreshed,
    /// Fresh enough already (another process refreshed it, or not due yet).
    NotDue,
    /// Another computation of it was running (here or elsewhere).
    Skipped,
    /// The computation or the store failed (counted).
    Failed,
}

enum Mode {
    /// A caller needs the value: wait for another holder if there is one.
    Miss,
    /// Background refresh: skip when another holder has the lease, or when the
    /// entry is fresh beyond `lookahead` when re-checked.
    Refresh { lookahead: Duration },
}

type Thunk = Box<dyn FnOnce() -> BoxFuture<'static, Result<Bytes, ErasedError>> + Send>;

struct Inner {
    store: Arc<Store>,
    /// Failed invalidations and their retry task.
    invalidations: Arc<Invalidations>,
    prefix: String,
    metrics: Metrics,
    config: CacheConfig,
    flights: Arc<Flights>,
    hot: HotKeys,
    payloads: Payloads,
    recipes: RwLock<HashMap<String, Recipe>>,
    preloads: RwLock<Vec<(String, PreloadFn)>>,
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

struct Served {
    envelope: Arc<Envelope>,
    outcome: CacheEvent,
}

fn erase<E: Display + Send + Sync + 'static>(e: E) -> ErasedError {
    ErasedError {
        message: Arc::from(e.to_string()),
        value: Arc::new(e),
    }
}

fn thunk_of<E, F, Fut>(compute: F) -> Thunk
where
    E: Display + Send + Sync + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
{
    Box::new(move || async move { compute().await.map_err(erase) }.boxed())
}

impl Cache {
    /// Builds the cache. With `Backend::Redis`, every key starts with the handle's
    /// prefix. Never fails and never connects: Redis may be down at start-up.
    pub fn new(backend: Backend, metrics: Metrics, config: CacheConfig) -> Self {
        let (store, prefix) = match backend {
            Backend::Redis(redis) => {
                let prefix = redis.prefix().to_string();
                (Store::Redis(RedisStore::new(redis, config.breaker)), prefix)
            }
            Backend::Memory => (Store::Memory(MemoryStore::default()), "mem".to_string()),
        };
        let hot = HotKeys::new(config.hot_half_life);
        let invalidations = Arc::new(
            Invalidations::new(invalidate::MAX_PENDING, config.lease_ttl)
                .with_metrics(metrics.clone()),
        );
        Self {
            inner: Arc::new(Inner {
                store: Arc::new(store),
                invalidations,
                prefix,
                metrics,
                config,
                flights: Arc::new(Flights::default()),
                hot,
                payloads: Payloads::default(),
                recipes: RwLock::default(),
                preloads: RwLock::default(),
            }),
        }
    }

    /// The metrics this cache records into.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
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
        let entry_keys = keys::view_keys(
            &self.inner.prefix,
            key.scope,
            key.namespace,
            key.route,
            &query,
        );
        let candidates = if_none_match.map(parse_if_none_match);
        let recipe = view_recipe_id(key.namespace, key.route);
        let served = self
            .serve(
                &entry_keys,
                ttl,
                Read::View {
                    whole_up_to: payloads::WHOLE_UP_TO,
                },
                candidates.as_deref(),
                compute,
                Some((&recipe, key.scope, &query)),
            )
            .await?;
        let matched = candidates
            .as_deref()
            .is_some_and(|c| if_none_match_matches(c, &served.envelope.etag));
        Ok(CachedBody {
            etag: Arc::clone(&served.envelope.etag),
            body: if matched {
                None
            } else {
                served.envelope.payload.clone()
            },
            outcome: served.outcome,
        })
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
        let recipe = memo_recipe_id(name);
        let to_json = {
            let compute = compute.clone();
            move || async move {
                let value = compute().await?;
                // Serializing a derive(Serialize) value into a Vec cannot fail short of
                // a map with non-string keys; that is a programming error.
                let json = serde_json::to_vec(&value)
                    .unwrap_or_else(|e| panic!("memoized value is not JSON: {e}"));
                Ok::<_, E>(Bytes::from(json))
            }
        };
        for attempt in 0..2 {
            let served = self
                .serve(
                    &entry_keys,
                    ttl,
                    Read::Whole,
                    None,
                    to_json.clone(),
                    Some((&recipe, scope, &args_json)),
                )
                .await?;
            let json = served.envelope.payload.clone().unwrap_or_default();
            match serde_json::from_slice::<T>(&json) {
                Ok(value) => {
                    return Ok(Memo {
                        value,
                        json,
                        etag: Arc::clone(&served.envelope.etag),
                        outcome: served.outcome,
                    })
                }
                Err(e) if attempt == 0 => {
                    // Written by another version of the type: drop it and recompute.
                    log::warn!("memoized {name} does not decode ({e}); recomputing");
                    let _ = self
                        .inner
                        .store
                        .bump(&entry_keys.generation, Some(&entry_keys.entry))
                        .await;
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
            let served = self.direct(compute).await?;
            return Ok(CachedBody {
                etag: Arc::clone(&served.envelope.etag),
                body: served.envelope.payload.clone(),
                outcome: served.outcome,
            });
        };
        let entry_keys = keys::memo_keys(&self.inner.prefix, scope, name, &args_json);
        let recipe = memo_recipe_id(name);
        let served = self
            .serve(
                &entry_keys,
                ttl,
                Read::Whole,
                None,
                compute,
                Some((&recipe, scope, &args_json)),
            )
            .await?;
        Ok(CachedBody {
            etag: Arc::clone(&served.envelope.etag),
            body: served.envelope.payload.clone(),
            outcome: served.outcome,
        })
    }

    async fn compute_uncached<T, E, F, Fut>(&self, compute: F) -> Result<Memo<T>, E>
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let value = compute().await?;
        let json = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        Ok(Memo {
            etag: envelope::etag_of(&json),
            value,
            json,
            outcome: CacheEvent::Miss,
        })
    }

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

    /// Bumps `generation_key` (deleting `entry_key`), whatever the read breaker
    /// says; on failure keeps it pending and makes sure the retry task runs.
    async fn invalidate(&self, generation_key: &str, entry_key: Option<&str>, what: &str) {
        let inner = &self.inner;
        let started = inner.invalidations.begin();
        match inner.store.bump(generation_key, entry_key).await {
            Ok(_) => inner.invalidations.applied(generation_key, started),
            Err(e) => {
                inner.metrics.cache(CacheEvent::Error);
                if inner.invalidations.record(generation_key, entry_key) {
                    log::warn!(
                        "cache invalidation of {what} failed ({e}); retrying in the background, \
                         its reads bypass the cache here until then"
                    );
                } else {
                    log::error!(
                        "cache invalidation of {what} failed ({e}) and {} are already pending: \
                         dropped; this process bypasses the cache until its entries expire",
                        invalidate::MAX_PENDING
                    );
                }
                inner.invalidations.ensure_retrier(&inner.store);
            }
        }
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

    /// Registers how to recompute a view without a request (warming, preload).
    /// `compute` receives the scope and the normalized query string.
    pub fn register_view<E, F, Fut>(&self, namespace: &str, route: &str, ttl: Duration, compute: F)
    where
        E: Display,
        F: Fn(Scope, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
    {
        let compute: RecipeFn = Arc::new(move |scope, args: Arc<str>| {
            let fut = compute(scope, args.to_string());
            async move { fut.await.map_err(|e| e.to_string()) }.boxed()
        });
        let recipe = Recipe {
            kind: RecipeKind::View {
                namespace: Arc::from(namespace),
                route: Arc::from(route),
            },
            ttl,
            compute,
        };
        self.add_recipe(view_recipe_id(namespace, route), recipe);
    }

    /// Registers how to recompute a memoized function from its arguments (warming).
    pub fn register_memo<A, T, E, F, Fut>(&self, name: &str, ttl: Duration, compute: F)
    where
        A: DeserializeOwned,
        T: Serialize,
        E: Display,
        F: Fn(Scope, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.register_memo_bytes(name, ttl, move |scope, args: A| {
            let fut = compute(scope, args);
            async move {
                let value = fut.await.map_err(|e| e.to_string())?;
                serde_json::to_vec(&value)
                    .map(Bytes::from)
                    .map_err(|e| e.to_string())
            }
        });
    }

    /// Registers how to recompute a [`Cache::memoize_bytes`] function (warming).
    pub fn register_memo_bytes<A, E, F, Fut>(&self, name: &str, ttl: Duration, compute: F)
    where
        A: DeserializeOwned,
        E: Display,
        F: Fn(Scope, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
    {
        let compute: RecipeFn = Arc::new(move |scope, args: Arc<str>| {
            let fut = serde_json::from_str::<A>(&args).map(|a| compute(scope, a));
            async move {
                fut.map_err(|e| e.to_string())?
                    .await
                    .map_err(|e| e.to_string())
            }
            .boxed()
        });
        let recipe = Recipe {
            kind: RecipeKind::Memo {
                name: Arc::from(name),
            },
            ttl,
            compute,
        };
        self.add_recipe(memo_recipe_id(name), recipe);
    }

    /// Registers the entries of a registered view to compute at start-up: `list`
    /// returns (scope, query string) pairs, e.g. every tenant's catalog.
    pub fn preload_view<F, Fut>(&self, namespace: &str, route: &str, list: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<(Scope, String)>> + Send + 'static,
    {
        let f: PreloadFn = Arc::new(move || list().boxed());
        self.inner
            .preloads
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((view_recipe_id(namespace, route), f));
    }

    fn add_recipe(&self, id: String, recipe: Recipe) {
        self.inner
            .recipes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, recipe);
    }

    fn recipe(&self, id: &str) -> Option<Recipe> {
        self.inner
            .recipes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// The hot-key counts (read by the warming scheduler).
    pub fn hot(&self) -> &HotKeys {
        &self.inner.hot
    }

    /// Runs every registered preload; returns how many entries were computed.
    pub async fn preload(&self) -> usize {
        let preloads: Vec<_> = self
            .inner
            .preloads
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut refreshed = 0;
        for (id, list) in preloads {
            let Some(recipe) = self.recipe(&id) else {
                continue;
            };
            for (scope, args) in list().await {
                let record = self.record_for(&id, &recipe, scope, &args);
                if self.refresh(&record, Duration::ZERO).await == RefreshOutcome::Refreshed {
                    refreshed += 1;
                }
            }
        }
        refreshed
    }

    fn record_for(&self, id: &str, recipe: &Recipe, scope: Scope, args: &str) -> HotRecord {
        let keys = match &recipe.kind {
            RecipeKind::View { namespace, route } => {
                keys::view_keys(&self.inner.prefix, scope, namespace, route, args)
            }
            RecipeKind::Memo { name } => keys::memo_keys(&self.inner.prefix, scope, name, args),
        };
        HotRecord {
            recipe: Arc::from(id),
            scope,
            args: Arc::from(args),
            keys,
            ttl: recipe.ttl,
        }
    }

    /// Recomputes `record`'s entry if it is missing or its soft expiry is within
    /// `lookahead`, under the same lease as a miss (one refresh per key per cluster).
    pub async fn refresh(&self, record: &HotRecord, lookahead: Duration) -> RefreshOutcome {
        let inner = &self.inner;
        if !inner.config.enabled {
            return RefreshOutcome::NotDue;
        }
        if inner
            .invalidations
            .blocking(&record.keys.generation)
            .is_some()
        {
            // Its invalidation is pending: nothing of it is read or stored here.
            return RefreshOutcome::Skipped;
        }
        let Some(recipe) = self.recipe(&record.recipe) else {
            return RefreshOutcome::Skipped;
        };
        let lookup = match inner.store.read(&record.keys, Read::Whole).await {
            Ok(l) => l,
            Err(_) => return RefreshOutcome::Failed,
        };
        let horizon = now_ms() + lookahead.as_millis() as u64;
        if let Some(e) = lookup
            .entry
            .as_ref()
            .filter(|e| e.generation == lookup.generation)
        {
            inner
                .hot
                .set_soft_expiry(&record.keys.entry, e.soft_expiry_ms);
            if e.soft_expiry_ms > horizon {
                return RefreshOutcome::NotDue;
            }
        }
        let flight_key = record.keys.flight(lookup.generation);
        let compute = Arc::clone(&recipe.compute);
        let (scope, args) = (record.scope, Arc::clone(&record.args));
        let thunk: Thunk = Box::new(move || {
            async move {
                compute(scope, args).await.map_err(|message| ErasedError {
                    value: Arc::new(message.clone()),
                    message: Arc::from(message),
                })
            }
            .boxed()
        });
        let (flight, started) = inner.flights.join_or_start(&flight_key, || {
            lead(
                Arc::clone(inner),
                record.keys.clone(),
                lookup.generation,
                record.ttl,
                Mode::Refresh { lookahead },
                thunk,
            )
            .boxed()
        });
        if !started {
            return RefreshOutcome::Skipped;
        }
        match flight.await {
            Ok(v) => {
                inner
                    .hot
                    .set_soft_expiry(&record.keys.entry, v.envelope.soft_expiry_ms);
                if v.computed_here {
                    RefreshOutcome::Refreshed
                } else {
                    RefreshOutcome::NotDue
                }
            }
            Err(FlightError::Skipped) => RefreshOutcome::Skipped,
            Err(_) => RefreshOutcome::Failed,
        }
    }

    /// The core: read; fresh → hit; stale → serve and refresh in the background;
    /// miss → join or lead the flight. `hot` = (recipe id, scope, args) for warming.
    async fn serve<E, F, Fut>(
        &self,
        keys: &keys::EntryKeys,
        ttl: Duration,
        read: Read,
        if_none_match: Option<&[String]>,
        compute: F,
        hot: Option<(&str, Scope, &str)>,
    ) -> Result<Served, E>
    where
        E: Display + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
    {
        let inner = &self.inner;
        if !inner.config.enabled {
            let payload = compute().await?;
            inner.metrics.cache(CacheEvent::Miss);
            return Ok(Served {
                envelope: Arc::new(Envelope::new(0, 0, payload)),
                outcome: CacheEvent::Miss,
            });
        }
        if let Some(tag) = inner.invalidations.blocking(&keys.generation) {
            // An invalidation of this key failed and is pending: the stored entry
            // may predate the write, so compute (module doc). The retry task may
            // have died with its runtime: make sure one runs.
            inner.invalidations.ensure_retrier(&inner.store);
            return self
                .bypass(format!("{}#pending{tag}", keys.entry), compute)
                .await;
        }
        // Read before the store call: an invalidation issued after this point must
        // not let this read join a bypass computation that started before it.
        let issued = inner.invalidations.issued();
        let lookup = match inner.store.read(keys, read).await {
            Ok(lookup) => lookup,
            Err(_) => {
                return self
                    .bypass(format!("{}#bypass{issued}", keys.entry), compute)
                    .await
            }
        };
        let generation = lookup.generation;
        let flight_key = keys.flight(generation);
        let entry = match lookup.entry.filter(|e| e.generation == generation) {
            // A large view came back header-only: enough for a 304; otherwise take
            // the payload from the in-process copy, or fetch it.
            Some(e) if e.payload.is_none() => {
                if if_none_match.is_some_and(|c| if_none_match_matches(c, &e.etag)) {
                    Some(e)
                } else {
                    self.fill_payload(keys, e).await
                }
            }
            other => other,
        };
        if let Some(entry) = entry {
            let entry = Arc::new(entry);
            let outcome = if now_ms() < entry.soft_expiry_ms {
                CacheEvent::Hit
            } else {
                // Stale-while-revalidate: answer now, refresh once in the background
                // (the flight is not awaited; it outlives this request).
                if !inner.flights.running(&flight_key) {
                    let _ = inner.flights.join_or_start(&flight_key, || {
                        lead(
                            Arc::clone(inner),
                            keys.clone(),
                            generation,
                            ttl,
                            Mode::Refresh {
                                lookahead: Duration::ZERO,
                            },
                            thunk_of(compute),
                        )
                        .boxed()
                    });
                }
                CacheEvent::Stale
            };
            inner.metrics.cache(outcome);
            self.touch(hot, keys, ttl, entry.soft_expiry_ms);
            return Ok(Served {
                envelope: entry,
                outcome,
            });
        }
        let (flight, started) = inner.flights.join_or_start(&flight_key, || {
            lead(
                Arc::clone(inner),
                keys.clone(),
                generation,
                ttl,
                Mode::Miss,
                thunk_of(compute.clone()),
            )
            .boxed()
        });
        match flight.await {
            Ok(FlightValue {
                envelope,
                computed_here,
            }) if envelope.payload.is_some() => {
                if let Some(payload) = &envelope.payload {
                    inner.payloads.put(&envelope.etag, payload);
                }
                let outcome = if started && computed_here {
                    CacheEvent::Miss
                } else {
                    CacheEvent::Coalesced
                };
                inner.metrics.cache(outcome);
                self.touch(hot, keys, ttl, envelope.soft_expiry_ms);
                Ok(Served { envelope, outcome })
            }
            Err(FlightError::Compute(e)) => match e.value.downcast_ref::<E>() {
                // Shared with this flight's callers, never stored.
                Some(e) => Err(e.clone()),
                // A flight of the same key with another error type (the warmer's):
                // compute with our own closure.
                None => self.direct(compute).await,
            },
            _ => self.direct(compute).await,
        }
    }

    /// The payload of a header-only entry: from the in-process copy by ETag, else
    /// one GET. `None` (treated as a miss) when the entry changed or went away.
    async fn fill_payload(&self, keys: &keys::EntryKeys, header: Envelope) -> Option<Envelope> {
        let inner = &self.inner;
        if let Some(payload) = inner.payloads.get(&header.etag) {
            return Some(Envelope {
                payload: Some(payload),
                ..header
            });
        }
        match inner.store.entry(keys).await {
            Ok(Some(full)) if full.generation == header.generation => {
                if let Some(payload) = &full.payload {
                    inner.payloads.put(&full.etag, payload);
                }
                Some(full)
            }
            _ => None,
        }
    }

    /// Computes without the cache (fallback when a shared flight could not serve).
    async fn direct<E, F, Fut>(&self, compute: F) -> Result<Served, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        let payload = compute().await?;
        self.inner.metrics.cache(CacheEvent::Miss);
        Ok(Served {
            envelope: Arc::new(Envelope::new(0, 0, payload)),
            outcome: CacheEvent::Miss,
        })
    }

    /// The store failed, or the key's invalidation is pending: compute (one
    /// computation per `flight_key` in this process) and serve, without storing;
    /// counted as `Error`, never returned as one.
    async fn bypass<E, F, Fut>(&self, flight_key: String, compute: F) -> Result<Served, E>
    where
        E: Display + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
    {
        let inner = &self.inner;
        inner.metrics.cache(CacheEvent::Error);
        let key = flight_key;
        let thunk = thunk_of(compute.clone());
        let (flight, _) = inner.flights.join_or_start(&key, || {
            async move { compute_only(thunk).await.map_err(FlightError::Compute) }.boxed()
        });
        match flight.await {
            Ok(v) if v.envelope.payload.is_some() => {
                return Ok(Served {
                    envelope: v.envelope,
                    outcome: CacheEvent::Error,
                })
            }
            Err(FlightError::Compute(e)) => {
                if let Some(e) = e.value.downcast_ref::<E>() {
                    return Err(e.clone());
                }
            }
            _ => {}
        }
        let payload = compute().await?;
        Ok(Served {
            envelope: Arc::new(Envelope::new(0, 0, payload)),
            outcome: CacheEvent::Error,
        })
    }

    fn touch(
        &self,
        hot: Option<(&str, Scope, &str)>,
        keys: &keys::EntryKeys,
        ttl: Duration,
        soft: u64,
    ) {
        let Some((recipe, scope, args)) = hot else {
            return;
        };
        if self.recipe_registered(recipe) {
            self.inner.hot.touch(
                || HotRecord {
                    recipe: Arc::from(recipe),
                    scope,
                    args: Arc::from(args),
                    keys: keys.clone(),
                    ttl,
                },
                &keys.entry,
                soft,
            );
        }
    }

    fn recipe_registered(&self, id: &str) -> bool {
        self.inner
            .recipes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(id)
    }
}

async fn compute_only(thunk: Thunk) -> Result<FlightValue, ErasedError> {
    let payload = thunk().await?;
    Ok(FlightValue {
        envelope: Arc::new(Envelope::new(0, 0, payload)),
        computed_here: true,
    })
}

/// The flight's leader: takes the lease, or waits for the process that holds it.
async fn lead(
    inner: Arc<Inner>,
    keys: keys::EntryKeys,
    generation: u64,
    ttl: Duration,
    mode: Mode,
    thunk: Thunk,
) -> FlightResult {
    // One lease per generation: under a stream of writes, each invalidation starts a
    // new election instead of queueing behind the computation it made obsolete
    // (measured: catalog p99 1.2 s in the W6 mix of 10 % PUTs).
    let keys = keys.with_generation_lease(generation);
    let token = uuid::Uuid::new_v4().to_string();
    match inner
        .store
        .try_lease(&keys, &token, inner.config.lease_ttl)
        .await
    {
        Ok(true) => {
            compute_under_lease(&inner, &keys, generation, ttl, &mode, thunk, Some(&token)).await
        }
        Ok(false) => match mode {
            Mode::Refresh { .. } => Err(FlightError::Skipped),
            Mode::Miss => wait_for_holder(&inner, &keys, generation, ttl, thunk).await,
        },
        Err(_) => {
            inner.metrics.cache(CacheEvent::Error);
            compute_only(thunk).await.map_err(FlightError::Compute)
        }
    }
}

/// Holding the lease (or having given up waiting): re-check, compute, store, release.
async fn compute_under_lease(
    inner: &Inner,
    keys: &keys::EntryKeys,
    generation: u64,
    ttl: Duration,
    mode: &Mode,
    thunk: Thunk,
    token: Option<&str>,
) -> FlightResult {
    // Another process may have stored the value between our read and our lease.
    let lookahead = match mode {
        Mode::Miss => Duration::ZERO,
        Mode::Refresh { lookahead } => *lookahead,
    };
    if let Ok(lookup) = inner.store.read(keys, Read::Whole).await {
        if let Some(e) = lookup.entry.filter(|e| {
            e.generation == lookup.generation
                && e.soft_expiry_ms > now_ms() + lookahead.as_millis() as u64
        }) {
            if let Some(token) = token {
                let _ = inner.store.release(keys, token).await;
            }
            return Ok(FlightValue {
                envelope: Arc::new(e),
                computed_here: false,
            });
        }
    }
    match thunk().await {
        Ok(payload) => {
            let soft = ttl::jittered(ttl, inner.config.jitter, rand::random());
            let envelope = Envelope::new(generation, now_ms() + soft.as_millis() as u64, payload);
            let hard = ttl::hard_ttl(soft, inner.config.stale_fraction);
            inner.invalidations.note_hard_ttl(hard);
            if inner
                .store
                .write(keys, &envelope, hard, token)
                .await
                .is_err()
            {
                inner.metrics.cache(CacheEvent::Error);
            }
            Ok(FlightValue {
                envelope: Arc::new(envelope),
                computed_here: true,
            })
        }
        Err(e) => {
            if let Some(token) = token {
                let _ = inner.store.release(keys, token).await;
            }
            if let Mode::Refresh { .. } = mode {
                // Stale-if-error: the stale entry stays until its hard TTL.
                inner.metrics.cache(CacheEvent::RefreshError);
                log::warn!("cache refresh of {} failed: {}", keys.entry, e.message);
            }
            Err(FlightError::Compute(e))
        }
    }
}

/// Another process holds the lease: poll (short backoff) until its value lands, the
/// lease goes away without one (take over), or `lease_wait` passes (serve stale if
/// any, else compute ourselves).
async fn wait_for_holder(
    inner: &Inner,
    keys: &keys::EntryKeys,
    generation: u64,
    ttl: Duration,
    thunk: Thunk,
) -> FlightResult {
    let deadline = Instant::now() + inner.config.lease_wait;
    let mut delay = Duration::from_millis(2);
    let mut stale = None;
    loop {
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(50));
        let lookup = match inner.store.read(keys, Read::WithLease).await {
            Ok(l) => l,
            Err(_) => {
                inner.metrics.cache(CacheEvent::Error);
                return compute_only(thunk).await.map_err(FlightError::Compute);
            }
        };
        if let Some(e) = lookup.entry.filter(|e| e.generation == lookup.generation) {
            if e.soft_expiry_ms > now_ms() {
                return Ok(FlightValue {
                    envelope: Arc::new(e),
                    computed_here: false,
                });
            }
            stale = Some(e);
        }
        if !lookup.lease_held {
            // The holder finished without a value (it failed) or died: take over.
            let token = uuid::Uuid::new_v4().to_string();
            match inner
                .store
                .try_lease(keys, &token, inner.config.lease_ttl)
                .await
            {
                Ok(true) => {
                    return compute_under_lease(
                        inner,
                        keys,
                        generation,
                        ttl,
                        &Mode::Miss,
                        thunk,
                        Some(&token),
                    )
                    .await
                }
                Ok(false) => {}
                Err(_) => {
                    inner.metrics.cache(CacheEvent::Error);
                    return compute_only(thunk).await.map_err(FlightError::Compute);
                }
            }
        }
        if Instant::now() >= deadline {
            if let Some(e) = stale {
                return Ok(FlightValue {
                    envelope: Arc::new(e),
                    computed_here: false,
                });
            }
            log::warn!("cache wait for {} timed out; computing", keys.entry);
            return compute_under_lease(inner, keys, generation, ttl, &Mode::Miss, thunk, None)
                .await;
        }
    }
}
