//! The cache against the real Redis on 127.0.0.1:6379 (each test has its own key
//! prefix, so tests never see each other's keys; nothing is flushed). Computations
//! are counted with an `AtomicUsize` inside the compute closure. Tests that need an
//! entry to go stale move a [`ManualClock`] instead of waiting; what another process
//! (or a broken one) would leave in Redis is planted with the `plant_*` helpers.
//!
//! By concern: `flight` (single-flight in and across processes), `swr`
//! (stale-while-revalidate), `lease` (the cross-process lease), `invalidation`,
//! `outage` (Redis cut, hung, or refusing invalidations), `prefetch` (a read made
//! before the handler), `entries` (keys, ETags, the entry format), `wake` (waiters
//! woken by the holder). The warming scheduler's tests live in `warm`.

mod entries;
mod flight;
mod invalidation;
mod lease;
mod outage;
mod prefetch;
mod swr;
mod wake;

use super::keys::{self, EntryKeys};
use super::{Cache, CacheConfig, CachedBody, ManualClock, Scope, ViewKey};
use crate::metrics::Metrics;
use crate::redis::Redis;
use crate::redis::RedisConfig;
use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt};
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const REDIS: &str = "127.0.0.1:6379";
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// The poller of the tests (`until(what, DEADLINE, check)`).
pub(crate) use brisk_testkit::wait::until;

/// A fresh key prefix: the test's own corner of the shared Redis.
pub(crate) use crate::testing::unique_prefix as prefix;

/// A Redis handle on `addr` (the real Redis, or a proxy in front of it).
/// On the shared address, the tests' shared Redis (a cluster with
/// `BRISK_TEST_REDIS_CLUSTER`).
pub(crate) fn redis(addr: &str, prefix: &str) -> Redis {
    if addr == REDIS {
        // The shared Redis never fails on purpose (the outage tests cut a proxy): a
        // generous timeout keeps a loaded machine (CI's 2 cores under the whole suite)
        // from opening the breaker, after which a stampede computes locally and the
        // single-flight counts no longer hold (seen: 2 and 3 computations of 1).
        let timeout = Duration::from_secs(1);
        return Redis::new(&crate::testing::shared_redis(prefix, timeout)).unwrap();
    }
    redis_node(addr, prefix)
}

/// A Redis handle on the one server at `addr` (a proxy's upstream is one server, so
/// a test beside a proxy shares it through this, on a cluster run too).
pub(crate) fn redis_node(addr: &str, prefix: &str) -> Redis {
    let timeout = Duration::from_millis(100);
    Redis::new(&RedisConfig {
        url: format!("redis://{addr}"),
        timeout,
        prefix: prefix.to_string(),
        ..RedisConfig::default()
    })
    .unwrap()
}

/// The tests' settings: short breaker and half-life, ±10 % jitter.
pub(crate) fn config() -> CacheConfig {
    CacheConfig {
        enabled: true,
        jitter: 0.1,
        stale_fraction: 1.0,
        lease_ttl: Duration::from_secs(5),
        lease_wait: Duration::from_secs(3),
        breaker: Duration::from_millis(200),
        hot_half_life: Duration::from_secs(5),
        waiter_connections: crate::cache::DEFAULT_WAITER_CONNECTIONS,
    }
}

/// A cache on the real Redis and the system clock.
pub(crate) fn cache_for(prefix: &str, config: CacheConfig) -> Cache {
    Cache::new(Some(redis(REDIS, prefix)), Metrics::new(), config)
}

/// A cache on Redis at `addr` whose time stands still until the returned clock moves.
pub(crate) fn cache_on_clock(
    addr: &str,
    prefix: &str,
    config: CacheConfig,
) -> (Cache, ManualClock) {
    let clock = ManualClock::new();
    let redis = Some(redis(addr, prefix));
    let cache = Cache::with_clock(redis, Metrics::new(), config, clock.clock());
    (cache, clock)
}

/// Counts the computations it hands out.
#[derive(Clone, Default)]
pub(crate) struct Counter(Arc<AtomicUsize>);

impl Counter {
    /// Computations started so far.
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A computation that counts itself, takes `delay`, and returns `v<n>`.
    pub(crate) fn compute(
        &self,
        delay: Duration,
    ) -> impl FnOnce() -> BoxFuture<'static, Result<Bytes, String>> + Clone + Send + 'static {
        let counter = self.0.clone();
        move || {
            async move {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(delay).await;
                Ok(Bytes::from(format!("v{n}")))
            }
            .boxed()
        }
    }
}

/// The catalog view of `scope`, with no query.
pub(crate) fn catalog(scope: Scope) -> ViewKey<'static> {
    ViewKey {
        namespace: "catalog",
        route: "/api/catalog",
        query: "",
        only: None,
        scope,
    }
}

/// The keys of [`catalog`]`(scope)` under `prefix`.
pub(crate) fn catalog_keys(prefix: &str, scope: Scope) -> EntryKeys {
    keys::view_keys(prefix, scope, "catalog", "/api/catalog", "")
}

/// A memoized value of the tests.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub(crate) struct Summary {
    pub(crate) product_id: i64,
    pub(crate) units_sold: i64,
}

/// `callers` concurrent reads of tenant 1's catalog, each computing in 200 ms.
async fn stampede(cache: &Cache, counter: &Counter, callers: usize) -> Vec<CachedBody> {
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let cache = cache.clone();
            let compute = counter.compute(Duration::from_millis(200));
            tokio::spawn(async move {
                let key = catalog(Scope::Tenant(1));
                cache
                    .view(key, Duration::from_secs(60), None, compute)
                    .await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap().unwrap());
    }
    out
}

/// Redis `GET` of a raw key, behind the cache's back.
pub(crate) async fn redis_get(prefix: &str, key: &str) -> Option<String> {
    let mut conn = redis(REDIS, prefix).conn();
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Whether a raw key exists in Redis (an entry that expired does not).
pub(crate) async fn redis_exists(prefix: &str, key: &str) -> bool {
    let mut conn = redis(REDIS, prefix).conn();
    redis::cmd("EXISTS")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Sets `key` to `value` for `ttl`, behind the cache's back.
async fn plant(prefix: &str, key: &str, value: impl redis::ToRedisArgs, ttl: Duration) {
    let mut conn = redis(REDIS, prefix).conn();
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("PX")
        .arg(ttl.as_millis() as u64)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// Stores `raw` as the entry of `keys` for a minute, as another process (or a
/// broken writer) would.
async fn plant_entry(prefix: &str, keys: &EntryKeys, raw: &[u8]) {
    plant(prefix, &keys.entry, raw, Duration::from_secs(60)).await;
}

/// Holds the lease of `keys` at `generation` under `token` for `ttl`, as a process
/// computing that entry would.
async fn plant_lease(prefix: &str, keys: &EntryKeys, generation: u64, token: &str, ttl: Duration) {
    let keys = keys.clone().with_generation_lease(generation);
    plant(prefix, &keys.lease, token, ttl).await;
}

/// Makes `generation_key` a value Redis refuses to INCR, so bumps of it fail while
/// reads succeed (they take it as generation 0, the old entry's).
async fn plant_unbumpable_generation(prefix: &str, generation_key: &str) {
    plant(
        prefix,
        generation_key,
        "not-a-number",
        Duration::from_secs(60),
    )
    .await;
}

/// Deletes a planted key: Redis takes bumps of it again.
async fn unplant(prefix: &str, key: &str) {
    let mut conn = redis(REDIS, prefix).conn();
    let _: () = redis::cmd("DEL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// Makes `key` a hash for a minute, so every read script that touches it fails
/// (WRONGTYPE) on a healthy Redis.
async fn plant_wrong_type(prefix: &str, key: &str) {
    let mut conn = redis(REDIS, prefix).conn();
    let _: () = redis::pipe()
        .cmd("HSET")
        .arg(key)
        .arg("f")
        .arg("v")
        .ignore()
        .cmd("PEXPIRE")
        .arg(key)
        .arg(60_000)
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
}
