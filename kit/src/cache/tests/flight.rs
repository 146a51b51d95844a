//! Single-flight: one computation per key in a process (the flight registry) and
//! per cluster (the lease); errors shared with the waiters, never stored.

use super::*;
use crate::metrics::CacheEvent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_callers_on_a_cold_key_run_one_computation() {
    let cache = cache_for(&prefix(), config());
    let counter = Counter::default();
    let bodies = stampede(&cache, &counter, 200).await;
    assert_eq!(counter.get(), 1);
    assert!(bodies.iter().all(|b| b.body.as_deref() == Some(&b"v1"[..])));
    let misses = bodies
        .iter()
        .filter(|b| b.outcome == CacheEvent::Miss)
        .count();
    assert_eq!(misses, 1);
    assert_eq!(cache.metrics().cache_count(CacheEvent::Coalesced), 199);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_runs_one_computation_for_two_hundred_callers() {
    let cache = Cache::new(None, Metrics::new(), config());
    let counter = Counter::default();
    let bodies = stampede(&cache, &counter, 200).await;
    assert_eq!(counter.get(), 1);
    assert!(bodies.iter().all(|b| b.body.as_deref() == Some(&b"v1"[..])));
    let again = stampede(&cache, &counter, 1).await;
    assert_eq!(again[0].outcome, CacheEvent::Hit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sharing_redis_run_one_computation() {
    let prefix = prefix();
    // Two caches with their own connections and flight registries, as two processes.
    let one = cache_for(&prefix, config());
    let two = cache_for(&prefix, config());
    let counter = Counter::default();
    let (a, b) = tokio::join!(stampede(&one, &counter, 100), stampede(&two, &counter, 100));
    assert_eq!(counter.get(), 1);
    assert!(a
        .iter()
        .chain(b.iter())
        .all(|x| x.body.as_deref() == Some(&b"v1"[..])));
    // The process that did not compute waited on the other one's lease.
    let coalesced = one.metrics().cache_count(CacheEvent::Coalesced)
        + two.metrics().cache_count(CacheEvent::Coalesced);
    assert_eq!(coalesced, 199);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_caller_does_not_cancel_the_computation() {
    let cache = cache_for(&prefix(), config());
    let counter = Counter::default();
    let spawn_reader = || {
        let cache = cache.clone();
        let compute = counter.compute(Duration::from_millis(300));
        tokio::spawn(async move {
            cache
                .view(
                    catalog(Scope::Tenant(1)),
                    Duration::from_secs(60),
                    None,
                    compute,
                )
                .await
        })
    };
    let first = spawn_reader();
    until("the computation to start", DEADLINE, || async {
        counter.get() == 1
    })
    .await;
    let second = spawn_reader();
    // The client that triggered the computation goes away.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    let got = second.await.unwrap().unwrap();
    assert_eq!(got.body.as_deref(), Some(&b"v1"[..]));
    assert_eq!(got.outcome, CacheEvent::Coalesced);
    let later = stampede(&cache, &counter, 1).await;
    assert_eq!(later[0].outcome, CacheEvent::Hit);
    assert_eq!(counter.get(), 1);
}

#[tokio::test]
async fn errors_are_shared_with_waiters_but_never_cached() {
    let cache = cache_for(&prefix(), config());
    let ttl = Duration::from_secs(60);
    let runs = Arc::new(AtomicUsize::new(0));
    let failing = {
        let runs = runs.clone();
        move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            Err::<Bytes, _>("not found".to_string())
        }
    };
    let (a, b) = tokio::join!(
        cache.view(catalog(Scope::Tenant(3)), ttl, None, failing.clone()),
        cache.view(catalog(Scope::Tenant(3)), ttl, None, failing)
    );
    assert_eq!(a.unwrap_err(), "not found");
    assert_eq!(b.unwrap_err(), "not found");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let counter = Counter::default();
    let got = cache
        .view(
            catalog(Scope::Tenant(3)),
            ttl,
            None,
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(got.outcome, CacheEvent::Miss);
    assert_eq!(counter.get(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memoize_bytes_runs_once_for_a_stampede_and_hands_back_the_stored_bytes() {
    let cache = cache_for(&prefix(), config());
    let counter = Counter::default();
    let calls = (0..200).map(|_| {
        let cache = cache.clone();
        let compute = counter.compute(Duration::from_millis(100));
        async move {
            cache
                .memoize_bytes(
                    "summary",
                    &(1, 42),
                    Scope::Tenant(1),
                    Duration::from_secs(300),
                    compute,
                )
                .await
                .unwrap()
        }
    });
    let got = futures_util::future::join_all(calls).await;
    assert_eq!(counter.get(), 1);
    assert!(got.iter().all(|g| g.body.as_deref() == Some(&b"v1"[..])));
    let hit = cache
        .memoize_bytes(
            "summary",
            &(1, 42),
            Scope::Tenant(1),
            Duration::from_secs(300),
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(
        (hit.outcome, hit.etag.clone()),
        (CacheEvent::Hit, got[0].etag.clone())
    );
}
