//! Stale-while-revalidate: past its soft expiry an entry is served at once while
//! one refresh runs; a failed refresh keeps the stale value (stale-if-error). The
//! clock is moved past the soft expiry; the entry's hard TTL in Redis (real time)
//! is minutes away.

use super::*;
use crate::metrics::CacheEvent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_entry_is_served_at_once_and_refreshed_exactly_once() {
    let config = CacheConfig {
        jitter: 0.0,
        ..config()
    };
    let (cache, clock) = cache_on_clock(REDIS, &prefix(), config);
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let read = |compute_delay: Duration| {
        let cache = cache.clone();
        let compute = counter.compute(compute_delay);
        async move {
            cache
                .view(catalog(Scope::Tenant(1)), ttl, None, compute)
                .await
                .unwrap()
        }
    };
    assert_eq!(read(Duration::ZERO).await.outcome, CacheEvent::Miss);
    // Past the soft expiry: stale reads answer with the old value while the refresh
    // (which takes 500 ms) runs, so none of them waited for it.
    clock.advance(ttl);
    let stale = read(Duration::from_millis(500)).await;
    assert_eq!(stale.outcome, CacheEvent::Stale);
    assert_eq!(stale.body.as_deref(), Some(&b"v1"[..]));
    let more =
        futures_util::future::join_all((0..50).map(|_| read(Duration::from_millis(500)))).await;
    assert!(more
        .iter()
        .all(|b| b.outcome == CacheEvent::Stale && b.body.as_deref() == Some(&b"v1"[..])));
    until("the refreshed value", DEADLINE, || {
        let read = read(Duration::ZERO);
        async move { read.await.body.as_deref() == Some(&b"v2"[..]) }
    })
    .await;
    assert_eq!(counter.get(), 2, "exactly one refresh");
    assert_eq!(read(Duration::ZERO).await.outcome, CacheEvent::Hit);
}

#[tokio::test]
async fn a_failed_refresh_keeps_serving_the_stale_value_and_is_counted() {
    let config = CacheConfig {
        jitter: 0.0,
        ..config()
    };
    let (cache, clock) = cache_on_clock(REDIS, &prefix(), config);
    let ttl = Duration::from_secs(60);
    let ok = || async { Ok::<_, String>(Bytes::from_static(b"good")) };
    let failing = || async { Err::<Bytes, _>("database down".to_string()) };
    cache
        .view(catalog(Scope::Public), ttl, None, ok)
        .await
        .unwrap();
    clock.advance(ttl);
    until("a refresh to fail", DEADLINE, || async {
        let got = cache
            .view(catalog(Scope::Public), ttl, None, failing)
            .await
            .unwrap();
        assert_eq!(got.body.as_deref(), Some(&b"good"[..]));
        cache.metrics().cache_count(CacheEvent::RefreshError) >= 1
    })
    .await;
    let got = cache
        .view(catalog(Scope::Public), ttl, None, failing)
        .await
        .unwrap();
    assert_eq!(got.outcome, CacheEvent::Stale);
    assert_eq!(got.body.as_deref(), Some(&b"good"[..]));
}

#[tokio::test]
async fn an_entry_is_fresh_until_its_soft_expiry_and_stale_from_it() {
    let config = CacheConfig {
        jitter: 0.0,
        ..config()
    };
    let (cache, clock) = cache_on_clock(REDIS, &prefix(), config);
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let read = || {
        cache.view(
            catalog(Scope::Tenant(1)),
            ttl,
            None,
            counter.compute(Duration::from_secs(5)),
        )
    };
    cache
        .view(
            catalog(Scope::Tenant(1)),
            ttl,
            None,
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    clock.advance(ttl - Duration::from_millis(1));
    assert_eq!(read().await.unwrap().outcome, CacheEvent::Hit);
    clock.advance(Duration::from_millis(1));
    assert_eq!(read().await.unwrap().outcome, CacheEvent::Stale);
}
