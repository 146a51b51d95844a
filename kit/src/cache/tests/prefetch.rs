//! A read made before the handler runs (the guard's prefetch, beside the limiter's
//! decision) is the handler's read: its cache call sends no Redis command of its own;
//! a call of other keys, or a second call, reads for itself; the memory store makes
//! no early read.

use super::*;
use crate::metrics::CacheEvent;

/// Redis commands this handle's connections have answered so far.
fn commands(redis: &Redis) -> u64 {
    redis.timings().snapshot().iter().map(|k| k.count).sum()
}

fn cache_and_redis() -> (Cache, Redis) {
    let redis = redis(REDIS, &prefix());
    let cache = Cache::new(Some(redis.clone()), Metrics::new(), config());
    (cache, redis)
}

#[tokio::test]
async fn a_prefetched_read_is_the_view_calls_read_and_it_sends_no_command_of_its_own() {
    let (cache, redis) = cache_and_redis();
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let key = catalog(Scope::Tenant(1));
    let first = cache
        .view(key, ttl, None, counter.compute(Duration::ZERO))
        .await
        .unwrap();
    let before = commands(&redis);
    let early = cache.prefetch(cache.view_read(key)).await;
    assert!(early.is_some());
    assert_eq!(commands(&redis), before + 1, "the early read is one command");
    let served = early
        .scope(cache.view(key, ttl, None, counter.compute(Duration::ZERO)))
        .await
        .unwrap();
    assert_eq!(commands(&redis), before + 1, "the view call read again");
    assert_eq!((served.outcome, &served.body), (CacheEvent::Hit, &first.body));
    assert_eq!(counter.get(), 1);
}

#[tokio::test]
async fn a_prefetched_memo_read_serves_the_memoized_call() {
    let (cache, redis) = cache_and_redis();
    let counter = Counter::default();
    let (ttl, scope) = (Duration::from_secs(60), Scope::Tenant(7));
    let compute = || counter.compute(Duration::ZERO);
    let first = (cache.memoize_bytes("summary", &42, scope, ttl, compute())).await;
    let read = cache.memo_read("summary", &42, scope).expect("keyable");
    let before = commands(&redis);
    let early = cache.prefetch(read).await;
    let served = early
        .scope(cache.memoize_bytes("summary", &42, scope, ttl, compute()))
        .await
        .unwrap();
    assert_eq!(commands(&redis), before + 1);
    assert_eq!((served.outcome, served.body), (CacheEvent::Hit, first.unwrap().body));
}

#[tokio::test]
async fn another_keys_call_and_a_second_call_read_for_themselves() {
    let (cache, redis) = cache_and_redis();
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let (mine, other) = (catalog(Scope::Tenant(1)), catalog(Scope::Tenant(2)));
    for key in [mine, other] {
        let compute = counter.compute(Duration::ZERO);
        cache.view(key, ttl, None, compute).await.unwrap();
    }
    let before = commands(&redis);
    let early = cache.prefetch(cache.view_read(other)).await;
    let (mine_served, other_served) = early
        .scope(async {
            let compute = || counter.compute(Duration::ZERO);
            let m = cache.view(mine, ttl, None, compute()).await.unwrap();
            let o1 = cache.view(other, ttl, None, compute()).await.unwrap();
            let o2 = cache.view(other, ttl, None, compute()).await.unwrap();
            (m, (o1, o2))
        })
        .await;
    // The early read, tenant 1's own read, and the second call of tenant 2's keys.
    assert_eq!(commands(&redis), before + 3);
    assert_eq!(mine_served.body.as_deref(), Some(&b"v1"[..]));
    assert_eq!(other_served.0.body.as_deref(), Some(&b"v2"[..]));
    assert_eq!(other_served.1.body.as_deref(), Some(&b"v2"[..]));
    assert_eq!(counter.get(), 2);
}

#[tokio::test]
async fn the_memory_store_and_a_disabled_cache_read_nothing_early() {
    let memory = Cache::new(None, Metrics::new(), config());
    let read = memory.view_read(catalog(Scope::Tenant(1)));
    assert!(!memory.prefetch(read).await.is_some());
    let (off, redis) = {
        let redis = redis(REDIS, &prefix());
        let config = CacheConfig {
            enabled: false,
            ..config()
        };
        (Cache::new(Some(redis.clone()), Metrics::new(), config), redis)
    };
    let read = off.view_read(catalog(Scope::Tenant(1)));
    assert!(!off.prefetch(read).await.is_some());
    assert_eq!(commands(&redis), 0);
}
