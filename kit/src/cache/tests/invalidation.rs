//! Invalidation by generation: a bump or a memo delete makes the next read
//! recompute, defeats a computation that started before it, and reaches Redis even
//! when the read breaker is open (through the retrier, without making the write
//! wait); one Redis refuses stays pending (reads here bypass the old entry), is
//! retried, and is flushed at shutdown.

use super::*;
use crate::cache::Memo;
use crate::metrics::CacheEvent;

#[tokio::test]
async fn bumping_a_namespace_makes_the_next_read_recompute() {
    let cache = cache_for(&prefix(), config());
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let read = |scope| cache.view(catalog(scope), ttl, None, counter.compute(Duration::ZERO));
    assert_eq!(
        read(Scope::Tenant(1)).await.unwrap().body.as_deref(),
        Some(&b"v1"[..])
    );
    assert_eq!(
        read(Scope::Tenant(2)).await.unwrap().body.as_deref(),
        Some(&b"v2"[..])
    );
    let before = read(Scope::Tenant(1)).await.unwrap();
    assert_eq!(before.outcome, CacheEvent::Hit);
    cache.bump_namespace(Scope::Tenant(1), "catalog").await;
    let after = read(Scope::Tenant(1)).await.unwrap();
    assert_eq!(after.outcome, CacheEvent::Miss);
    assert_eq!(after.body.as_deref(), Some(&b"v3"[..]));
    assert_ne!(after.etag, before.etag);
    // Another tenant's namespace is untouched.
    assert_eq!(
        read(Scope::Tenant(2)).await.unwrap().outcome,
        CacheEvent::Hit
    );
}

#[tokio::test]
async fn a_computation_that_started_before_an_invalidation_is_not_stored() {
    let cache = cache_for(&prefix(), config());
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let slow = {
        let cache = cache.clone();
        let compute = counter.compute(Duration::from_millis(300));
        tokio::spawn(async move {
            cache
                .view(catalog(Scope::Tenant(1)), ttl, None, compute)
                .await
        })
    };
    until("the computation to start", DEADLINE, || async {
        counter.get() == 1
    })
    .await;
    // The write commits and invalidates while the old computation runs.
    cache.bump_namespace(Scope::Tenant(1), "catalog").await;
    assert_eq!(
        slow.await.unwrap().unwrap().body.as_deref(),
        Some(&b"v1"[..])
    );
    let next = cache
        .view(
            catalog(Scope::Tenant(1)),
            ttl,
            None,
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(next.outcome, CacheEvent::Miss);
    assert_eq!(next.body.as_deref(), Some(&b"v2"[..]));
}

#[tokio::test]
async fn memoize_round_trips_values_and_delete_by_arguments_recomputes() {
    let cache = cache_for(&prefix(), config());
    let runs = Arc::new(AtomicUsize::new(0));
    let summary = |product_id: i64| {
        let runs = runs.clone();
        move || async move {
            let n = runs.fetch_add(1, Ordering::SeqCst) as i64;
            Ok::<_, String>(Summary {
                product_id,
                units_sold: 10 + n,
            })
        }
    };
    let ttl = Duration::from_secs(300);
    let scope = Scope::Tenant(1);
    let first: Memo<Summary> = cache
        .memoize("summary", &7, scope, ttl, summary(7))
        .await
        .unwrap();
    assert_eq!(
        first.value,
        Summary {
            product_id: 7,
            units_sold: 10
        }
    );
    assert_eq!(first.outcome, CacheEvent::Miss);
    assert_eq!(&first.json[..], br#"{"product_id":7,"units_sold":10}"#);
    let hit: Memo<Summary> = cache
        .memoize("summary", &7, scope, ttl, summary(7))
        .await
        .unwrap();
    assert_eq!((hit.value.units_sold, hit.outcome), (10, CacheEvent::Hit));
    let other: Memo<Summary> = cache
        .memoize("summary", &8, scope, ttl, summary(8))
        .await
        .unwrap();
    assert_eq!(other.outcome, CacheEvent::Miss);
    cache.delete_memo("summary", &7, scope).await;
    let again: Memo<Summary> = cache
        .memoize("summary", &7, scope, ttl, summary(7))
        .await
        .unwrap();
    assert_eq!(
        (again.value.units_sold, again.outcome),
        (12, CacheEvent::Miss)
    );
    let kept: Memo<Summary> = cache
        .memoize("summary", &8, scope, ttl, summary(8))
        .await
        .unwrap();
    assert_eq!(kept.outcome, CacheEvent::Hit);
    // Another tenant with the same arguments has its own entry.
    let tenant2: Memo<Summary> = cache
        .memoize("summary", &7, Scope::Tenant(2), ttl, summary(7))
        .await
        .unwrap();
    assert_eq!(tenant2.outcome, CacheEvent::Miss);
}

#[tokio::test]
async fn while_a_bump_is_pending_reads_here_bypass_the_old_entry() {
    let prefix = prefix();
    // No breaker: every read below reaches Redis and would find the old entry.
    let no_breaker = CacheConfig {
        breaker: Duration::ZERO,
        ..config()
    };
    let one = cache_for(&prefix, no_breaker.clone());
    let two = cache_for(&prefix, no_breaker);
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let read = |cache: &Cache| {
        let (cache, compute) = (cache.clone(), counter.compute(Duration::ZERO));
        async move {
            cache
                .view(catalog(Scope::Tenant(1)), ttl, None, compute)
                .await
                .unwrap()
        }
    };
    assert_eq!(read(&one).await.body.as_deref(), Some(&b"v1"[..]));
    // A Redis that answers reads but rejects the bump.
    let generation = keys::namespace_generation_key(&prefix, Scope::Tenant(1), "catalog");
    plant_unbumpable_generation(&prefix, &generation).await;
    one.bump_namespace(Scope::Tenant(1), "catalog").await;
    assert_eq!(one.invalidation_stats().pending, 1);
    for expected in [&b"v2"[..], &b"v3"[..]] {
        let got = read(&one).await;
        assert_eq!(
            (got.outcome, got.body.as_deref()),
            (CacheEvent::Error, Some(expected))
        );
    }
    // Another process cannot know until the bump lands: it still has the old entry.
    assert_eq!(read(&two).await.body.as_deref(), Some(&b"v1"[..]));
    until("a retry to fail", DEADLINE, || async {
        one.invalidation_stats().retry_failures >= 1
    })
    .await;
    assert_eq!(one.invalidation_stats().pending, 1);
    assert_eq!(read(&one).await.body.as_deref(), Some(&b"v4"[..]));

    unplant(&prefix, &generation).await;
    until("the pending bump to land", DEADLINE, || async {
        one.invalidation_stats().pending == 0
    })
    .await;
    assert_eq!(redis_get(&prefix, &generation).await.as_deref(), Some("1"));
    let got = read(&one).await;
    assert_eq!(
        (got.outcome, got.body.as_deref()),
        (CacheEvent::Miss, Some(&b"v5"[..]))
    );
    let got = read(&two).await;
    assert_eq!(
        (got.outcome, got.body.as_deref()),
        (CacheEvent::Hit, Some(&b"v5"[..]))
    );
}

#[tokio::test]
async fn an_invalidation_issued_while_the_breaker_is_open_goes_to_the_retrier_and_reaches_redis() {
    let prefix = prefix();
    let one = cache_for(
        &prefix,
        CacheConfig {
            breaker: Duration::from_secs(60),
            ..config()
        },
    );
    let two = cache_for(&prefix, config());
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let read = |cache: &Cache, tenant: i64| {
        let (cache, compute) = (cache.clone(), counter.compute(Duration::ZERO));
        async move {
            cache
                .view(catalog(Scope::Tenant(tenant)), ttl, None, compute)
                .await
                .unwrap()
        }
    };
    assert_eq!(read(&one, 1).await.body.as_deref(), Some(&b"v1"[..]));
    assert_eq!(read(&two, 1).await.outcome, CacheEvent::Hit);
    // Trip the breaker with a failed call on a healthy Redis: another tenant's
    // entry key holds a hash, so the read script fails (WRONGTYPE).
    plant_wrong_type(&prefix, &catalog_keys(&prefix, Scope::Tenant(9)).entry).await;
    assert_eq!(read(&one, 9).await.outcome, CacheEvent::Error);
    // Open: reads bypass Redis.
    assert_eq!(read(&one, 1).await.outcome, CacheEvent::Error);

    // Not tried while the breaker is open: pending at once, and this process's
    // reads of it bypass the old entry until the retrier (which tries whatever the
    // breaker says) lands it.
    one.bump_namespace(Scope::Tenant(1), "catalog").await;
    assert_eq!(one.invalidation_stats().failed, 1);
    let generation = keys::namespace_generation_key(&prefix, Scope::Tenant(1), "catalog");
    until("the retrier to land the bump", DEADLINE, || async {
        redis_get(&prefix, &generation).await.as_deref() == Some("1")
    })
    .await;
    until("the pending set to empty", DEADLINE, || async {
        one.invalidation_stats().pending == 0
    })
    .await;
    assert_eq!(one.invalidation_stats().retried, 1);
    assert_eq!(read(&two, 1).await.outcome, CacheEvent::Miss);
    // Still open for reads.
    assert_eq!(read(&one, 1).await.outcome, CacheEvent::Error);
}

#[tokio::test]
async fn dropping_the_cache_stops_its_retry_task() {
    let prefix = prefix();
    let cache = cache_for(&prefix, config());
    let generation = keys::namespace_generation_key(&prefix, Scope::Tenant(1), "catalog");
    plant_unbumpable_generation(&prefix, &generation).await;
    cache.bump_namespace(Scope::Tenant(1), "catalog").await;
    let invalidations = Arc::clone(&cache.inner.invalidations);
    assert!(invalidations.retrying());
    until("a retry to fail", DEADLINE, || async {
        invalidations.stats().retry_failures >= 1
    })
    .await;
    drop(cache);
    until("the retry task to stop", DEADLINE, || async {
        !invalidations.retrying()
    })
    .await;
    // Still pending, so the task did not exit on its own: it was stopped.
    assert_eq!(invalidations.len(), 1);
}

#[tokio::test]
async fn flush_invalidations_applies_what_is_pending_before_its_deadline() {
    let prefix = prefix();
    let cache = cache_for(&prefix, config());
    let generation = keys::namespace_generation_key(&prefix, Scope::Tenant(1), "catalog");
    plant_unbumpable_generation(&prefix, &generation).await;
    cache.bump_namespace(Scope::Tenant(1), "catalog").await;
    // Redis still refuses it: still pending when the deadline passes.
    assert_eq!(
        cache.flush_invalidations(Duration::from_millis(200)).await,
        1
    );
    unplant(&prefix, &generation).await;
    assert_eq!(cache.flush_invalidations(DEADLINE).await, 0);
    assert_eq!(redis_get(&prefix, &generation).await.as_deref(), Some("1"));
}

#[tokio::test]
async fn outcomes_are_counted_by_kind_of_entry_and_bumps_as_applied_invalidations() {
    use crate::metrics::{CacheKind, InvalidationOutcome};
    let cache = cache_for(&prefix(), config());
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let scope = Scope::Tenant(1);
    for _ in 0..2 {
        let compute = counter.compute(Duration::ZERO);
        cache
            .view(catalog(scope), ttl, None, compute)
            .await
            .unwrap();
    }
    let summary = || async {
        Ok::<_, String>(Summary {
            product_id: 7,
            units_sold: 1,
        })
    };
    for _ in 0..3 {
        let _: Memo<Summary> = cache
            .memoize("summary", &7, scope, ttl, summary)
            .await
            .unwrap();
    }
    cache.bump_namespace(scope, "catalog").await;
    cache.delete_memo("summary", &7, scope).await;
    let m = cache.metrics();
    let of = |kind, event| m.cache_count_of(kind, event);
    assert_eq!(
        (
            of(CacheKind::View, CacheEvent::Miss),
            of(CacheKind::View, CacheEvent::Hit)
        ),
        (1, 1)
    );
    assert_eq!(
        (
            of(CacheKind::Memo, CacheEvent::Miss),
            of(CacheKind::Memo, CacheEvent::Hit)
        ),
        (1, 2)
    );
    assert_eq!(
        m.cache_count(CacheEvent::Hit),
        3,
        "the total is over every kind"
    );
    assert_eq!(m.invalidation_count(InvalidationOutcome::Applied), 2);
    assert_eq!(m.invalidation_count(InvalidationOutcome::Deferred), 0);
}
