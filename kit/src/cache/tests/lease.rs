//! The cross-process lease: a caller that finds another process computing waits for
//! its value, takes over from a holder that died, and never queues behind a
//! computation that an invalidation made obsolete (one lease per generation).

use super::*;
use crate::cache::envelope::Envelope;
use crate::metrics::CacheEvent;

#[tokio::test]
async fn a_dead_lease_holder_is_taken_over() {
    let prefix = prefix();
    let cache = cache_for(
        &prefix,
        CacheConfig {
            lease_ttl: Duration::from_millis(300),
            ..config()
        },
    );
    // Another process took the lease and died without writing or releasing it.
    let keys = catalog_keys(&prefix, Scope::Tenant(1));
    plant_lease(&prefix, &keys, 0, "dead-token", Duration::from_millis(300)).await;
    let counter = Counter::default();
    let got = cache
        .view(
            catalog(Scope::Tenant(1)),
            Duration::from_secs(60),
            None,
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(got.body.as_deref(), Some(&b"v1"[..]));
    assert_eq!(counter.get(), 1);
    let hit = cache
        .view(
            catalog(Scope::Tenant(1)),
            Duration::from_secs(60),
            None,
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(hit.outcome, CacheEvent::Hit);
}

#[tokio::test]
async fn a_caller_waits_for_the_lease_holder_and_serves_its_value() {
    let prefix = prefix();
    let cache = cache_for(&prefix, config());
    // Another process holds the lease: it is computing the entry.
    let keys = catalog_keys(&prefix, Scope::Tenant(1));
    plant_lease(&prefix, &keys, 0, "holder", Duration::from_secs(5)).await;
    let counter = Counter::default();
    let waiting = {
        let (cache, compute) = (cache.clone(), counter.compute(Duration::ZERO));
        tokio::spawn(async move {
            let key = catalog(Scope::Tenant(1));
            cache
                .view(key, Duration::from_secs(60), None, compute)
                .await
        })
    };
    until("the caller to wait on the lease", DEADLINE, || async {
        cache.inner.flights.running(&keys.flight(0))
    })
    .await;
    // The holder stores its value.
    let soft_expiry_ms = cache.clock().now_ms() + 60_000;
    let theirs = Envelope::new(0, soft_expiry_ms, Bytes::from_static(b"theirs"));
    plant_entry(&prefix, &keys, &theirs.encode()).await;
    let got = waiting.await.unwrap().unwrap();
    assert_eq!(
        (got.outcome, got.body.as_deref()),
        (CacheEvent::Coalesced, Some(&b"theirs"[..]))
    );
    assert_eq!(counter.get(), 0, "the waiter never computed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_after_an_invalidation_do_not_wait_for_the_computation_it_made_obsolete() {
    let prefix = prefix();
    // Two caches sharing Redis (two processes); waiting on A's lease would take 60 s.
    let config = CacheConfig {
        lease_wait: Duration::from_secs(60),
        lease_ttl: Duration::from_secs(60),
        ..config()
    };
    let a = cache_for(&prefix, config.clone());
    let b = cache_for(&prefix, config);
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let held = Arc::new(tokio::sync::Mutex::new(Some(held)));
    let started = Counter::default();
    // Process A computes generation 0 and is stuck until the test lets it go.
    let slow = {
        let a = a.clone();
        let held = held.clone();
        let started = started.0.clone();
        tokio::spawn(async move {
            a.view(
                catalog(Scope::Tenant(1)),
                Duration::from_secs(60),
                None,
                move || {
                    async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        if let Some(rx) = held.lock().await.take() {
                            let _ = rx.await;
                        }
                        Ok::<_, String>(Bytes::from_static(b"old"))
                    }
                    .boxed()
                },
            )
            .await
        })
    };
    // Wait until A computes, holding the lease.
    until("A to start computing", DEADLINE, || async {
        started.get() > 0
    })
    .await;
    // A write commits: B bumps the namespace, then reads.
    b.bump_namespace(Scope::Tenant(1), "catalog").await;
    let counter = Counter::default();
    let fresh = tokio::time::timeout(
        Duration::from_secs(20),
        b.view(
            catalog(Scope::Tenant(1)),
            Duration::from_secs(60),
            None,
            counter.compute(Duration::ZERO),
        ),
    )
    .await
    .expect("B waited for A's obsolete computation")
    .unwrap();
    assert_eq!(fresh.body.as_deref(), Some(&b"v1"[..]));
    assert_eq!(counter.get(), 1);
    let _ = release.send(());
    slow.await.unwrap().unwrap();
}
