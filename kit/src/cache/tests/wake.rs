//! Waiters on another process's lease block on its wake-up (`wake`): two caches with
//! their own connections (two processes as far as Redis can tell). The waiter
//! registers, is woken by the holder's write or failed release, reads the value (or
//! takes over) and leaves no registration behind; with fewer blocking connections
//! than waits it polls instead of queueing. On a Redis Cluster waiters poll, and the
//! same outcomes hold.

use super::*;
use crate::metrics::CacheEvent;
use tokio::sync::oneshot;

/// A computation of `cache` for tenant `t`'s catalog that starts, signals `started`,
/// and finishes with `result` when the test sends on the returned channel.
fn gated(
    cache: &Cache,
    t: i64,
    result: Result<&'static [u8], &'static str>,
) -> (
    oneshot::Sender<()>,
    Counter,
    tokio::task::JoinHandle<Result<CachedBody, String>>,
) {
    let (go, gate) = oneshot::channel::<()>();
    let gate = Arc::new(tokio::sync::Mutex::new(Some(gate)));
    let started = Counter::default();
    let (cache, count) = (cache.clone(), started.0.clone());
    let task = tokio::spawn(async move {
        let compute = move || {
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                if let Some(gate) = gate.lock().await.take() {
                    let _ = gate.await;
                }
                result.map(Bytes::from_static).map_err(String::from)
            }
            .boxed()
        };
        let key = catalog(Scope::Tenant(t));
        cache
            .view(key, Duration::from_secs(60), None, compute)
            .await
    });
    (go, started, task)
}

/// A read of tenant `t`'s catalog by `cache`, computing `v<n>` at once if it must.
fn reader(
    cache: &Cache,
    t: i64,
    counter: &Counter,
) -> tokio::task::JoinHandle<Result<CachedBody, String>> {
    let (cache, compute) = (cache.clone(), counter.compute(Duration::ZERO));
    tokio::spawn(async move {
        let key = catalog(Scope::Tenant(t));
        cache
            .view(key, Duration::from_secs(60), None, compute)
            .await
    })
}

fn blocks(cache: &Cache) -> bool {
    cache.inner.store.waiters_block()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_caches_a_waiter_is_woken_by_the_holders_write_and_leaves_no_registration() {
    let prefix = prefix();
    let (a, b) = (cache_for(&prefix, config()), cache_for(&prefix, config()));
    let (go, started, holder) = gated(&a, 1, Ok(b"theirs"));
    until("A to compute under the lease", DEADLINE, || async {
        started.get() == 1
    })
    .await;
    let counter = Counter::default();
    let waiter = reader(&b, 1, &counter);
    let keys = catalog_keys(&prefix, Scope::Tenant(1)).with_generation_lease(0);
    let registered = until("B to wait on A's lease", DEADLINE, || async {
        b.inner.flights.running(&keys.flight(0))
            && (!blocks(&b) || redis_exists(&prefix, &keys.waiters()).await)
    });
    registered.await;
    let _ = go.send(());
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(
        (got.outcome, got.body.as_deref()),
        (CacheEvent::Coalesced, Some(&b"theirs"[..]))
    );
    assert_eq!(counter.get(), 0, "B never computed");
    holder.await.unwrap().unwrap();
    assert!(
        !redis_exists(&prefix, &keys.waiters()).await,
        "the holder's write reset the registrations"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_caches_a_holder_that_fails_wakes_its_waiter_which_takes_over() {
    let prefix = prefix();
    let (a, b) = (cache_for(&prefix, config()), cache_for(&prefix, config()));
    let (go, started, holder) = gated(&a, 2, Err("boom"));
    until("A to compute under the lease", DEADLINE, || async {
        started.get() == 1
    })
    .await;
    let counter = Counter::default();
    let waiter = reader(&b, 2, &counter);
    let keys = catalog_keys(&prefix, Scope::Tenant(2)).with_generation_lease(0);
    until("B to wait on A's lease", DEADLINE, || async {
        b.inner.flights.running(&keys.flight(0))
    })
    .await;
    let _ = go.send(());
    assert!(holder.await.unwrap().is_err(), "A's computation failed");
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(got.body.as_deref(), Some(&b"v1"[..]), "B took over");
    assert_eq!(counter.get(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_caches_more_waits_than_blocking_connections_poll_instead_of_queueing() {
    let prefix = prefix();
    let a = cache_for(&prefix, config());
    // One blocking connection for three keys waited on at once.
    let b = cache_for(
        &prefix,
        CacheConfig {
            waiter_connections: 1,
            ..config()
        },
    );
    let holders: Vec<_> = (10..13).map(|t| (t, gated(&a, t, Ok(b"theirs")))).collect();
    for (_, (_, started, _)) in &holders {
        until("A to compute under the lease", DEADLINE, || async {
            started.get() == 1
        })
        .await;
    }
    let counter = Counter::default();
    let waiters: Vec<_> = (10..13).map(|t| reader(&b, t, &counter)).collect();
    for t in 10..13 {
        let keys = catalog_keys(&prefix, Scope::Tenant(t));
        until("B to wait on A's lease", DEADLINE, || async {
            b.inner.flights.running(&keys.flight(0))
        })
        .await;
    }
    for (_, (go, _, holder)) in holders {
        let _ = go.send(());
        holder.await.unwrap().unwrap();
    }
    for w in waiters {
        let got = w.await.unwrap().unwrap();
        assert_eq!(got.body.as_deref(), Some(&b"theirs"[..]));
    }
    assert_eq!(counter.get(), 0, "every wait ended with A's value");
    let (open, _) = b.inner.store.waiter_pool_state().unwrap_or((0, 0));
    assert!(open <= 1, "{open} blocking connections for a pool of 1");
}
