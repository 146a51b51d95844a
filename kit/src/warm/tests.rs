//! The scheduler against the real Redis, over the cache's test helpers: hot keys are
//! refreshed before their soft expiry (the cache's clock is moved into the
//! scheduler's lookahead instead of waiting for it), cold keys are left to expire,
//! and registered preloads run at start-up.

use super::{Shutdown, WarmConfig, Warmer};
use crate::cache::tests::{
    cache_for, cache_on_clock, catalog, catalog_keys, config, prefix, redis_exists, until, Counter,
    Summary, DEADLINE, REDIS,
};
use crate::cache::{keys, CacheConfig, Scope};
use crate::metrics::CacheEvent;
use futures_util::future::{BoxFuture, FutureExt};
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn warm_config() -> WarmConfig {
    WarmConfig {
        interval: Duration::from_millis(50),
        budget: 2,
        hot_accesses: 3.0,
    }
}

/// A summary computation that counts its runs for product 1 in `hot` and for the
/// others in `cold`, and takes 20 ms; `units_sold` is the run's index.
fn summary_counted_in(
    hot: &Arc<AtomicUsize>,
    cold: &Arc<AtomicUsize>,
) -> impl Fn(Scope, i64) -> BoxFuture<'static, Result<Summary, String>> + Clone + Send + Sync {
    let (hot, cold) = (hot.clone(), cold.clone());
    move |_scope: Scope, product_id: i64| {
        let counter = if product_id == 1 {
            hot.clone()
        } else {
            cold.clone()
        };
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst) as i64;
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(Summary {
                product_id,
                units_sold: n,
            })
        }
        .boxed()
    }
}

#[actix_rt::test]
async fn warming_keeps_a_hot_key_from_missing_and_lets_a_cold_key_expire() {
    let prefix = prefix();
    let config = CacheConfig {
        jitter: 0.0,
        hot_half_life: Duration::from_secs(2),
        ..config()
    };
    let (cache, clock) = cache_on_clock(REDIS, &prefix, config);
    let runs = Arc::new(AtomicUsize::new(0));
    let cold_runs = Arc::new(AtomicUsize::new(0));
    let summary = summary_counted_in(&runs, &cold_runs);
    let ttl = Duration::from_millis(400);
    cache.register_memo("summary", ttl, summary.clone());
    let addr = Warmer::start_with(cache.clone(), warm_config());
    let get = |product_id: i64| {
        let cache = cache.clone();
        let summary = summary.clone();
        async move {
            let compute = move || summary(Scope::Tenant(1), product_id);
            cache
                .memoize::<Summary, _, _, _, _>(
                    "summary",
                    &product_id,
                    Scope::Tenant(1),
                    ttl,
                    compute,
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(get(2).await.outcome, CacheEvent::Miss);
    assert_eq!(get(1).await.outcome, CacheEvent::Miss);
    // Steady access for three TTL periods and a half: every read is a fresh hit.
    // Each step moves the clock into the scheduler's lookahead (100 ms before the
    // soft expiry) and waits until the scheduler's refresh has landed.
    let step = ttl - Duration::from_millis(50);
    let outcomes = RefCell::new(Vec::new());
    let read = |product_id: i64| {
        let (get, outcomes) = (&get, &outcomes);
        async move {
            let got = get(product_id).await;
            outcomes.borrow_mut().push(got.outcome);
            got.value
        }
    };
    for _ in 0..4 {
        for _ in 0..3 {
            read(1).await;
        }
        let refresh = runs.load(Ordering::SeqCst) as i64;
        clock.advance(step);
        until(
            "the warmer's refresh of the hot key to land",
            DEADLINE,
            || async { read(1).await.units_sold == refresh },
        )
        .await;
    }
    let outcomes = outcomes.into_inner();
    let not_hits: Vec<_> = outcomes.iter().filter(|o| **o != CacheEvent::Hit).collect();
    assert!(not_hits.is_empty(), "hot key saw {not_hits:?}");
    assert!(
        runs.load(Ordering::SeqCst) >= 3,
        "the warmer refreshed the hot key"
    );
    // The cold key (one access) was never refreshed and is gone after its hard TTL.
    let cold = keys::memo_keys(&prefix, Scope::Tenant(1), "summary", "2");
    until("the cold key to expire", DEADLINE, || async {
        !redis_exists(&prefix, &cold.entry).await
    })
    .await;
    assert_eq!(cold_runs.load(Ordering::SeqCst), 1);
    addr.send(Shutdown).await.unwrap();
}

#[actix_rt::test]
async fn preload_computes_registered_entries_at_start_up() {
    let prefix = prefix();
    let cache = cache_for(&prefix, config());
    let counter = Counter::default();
    let compute = counter.compute(Duration::ZERO);
    cache.register_view(
        "catalog",
        "/api/catalog",
        Duration::from_secs(60),
        move |_scope, _query| (compute.clone())(),
    );
    cache.preload_view("catalog", "/api/catalog", || async {
        vec![
            (Scope::Tenant(1), String::new()),
            (Scope::Tenant(2), String::new()),
        ]
    });
    let addr = Warmer::start_with(cache.clone(), warm_config());
    // Stored, not only computed: a read before the write lands would join the flight.
    let stored = |tenant| {
        let entry = catalog_keys(&prefix, Scope::Tenant(tenant)).entry;
        let prefix = prefix.clone();
        async move { redis_exists(&prefix, &entry).await }
    };
    until("both catalogs to be preloaded", DEADLINE, || async {
        counter.get() == 2 && stored(1).await && stored(2).await
    })
    .await;
    let got = cache
        .view(
            catalog(Scope::Tenant(2)),
            Duration::from_secs(60),
            None,
            Counter::default().compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(got.outcome, CacheEvent::Hit);
    addr.send(Shutdown).await.unwrap();
}
