//! The cache against the real Redis on 127.0.0.1:6379 (each test has its own key
//! prefix, so tests never see each other's keys; nothing is flushed). Computations
//! are counted with an `AtomicUsize` inside the compute closure.

use super::*;
use crate::redis::RedisConfig;
use crate::testing::{unique_prefix as prefix, Mode, TcpProxy};
use std::sync::atomic::{AtomicUsize, Ordering};

const REDIS: &str = "127.0.0.1:6379";
const DEADLINE: Duration = Duration::from_secs(10);

fn redis(addr: &str, prefix: &str) -> Redis {
    Redis::new(&RedisConfig {
        url: format!("redis://{addr}"),
        timeout: Duration::from_millis(100),
        prefix: prefix.to_string(),
    })
    .unwrap()
}

fn config() -> CacheConfig {
    CacheConfig {
        enabled: true,
        jitter: 0.1,
        stale_fraction: 1.0,
        lease_ttl: Duration::from_secs(5),
        lease_wait: Duration::from_secs(3),
        breaker: Duration::from_millis(200),
        hot_half_life: Duration::from_secs(5),
    }
}

fn cache_for(prefix: &str, config: CacheConfig) -> Cache {
    Cache::new(Backend::Redis(redis(REDIS, prefix)), Metrics::new(), config)
}

#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Counter {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A computation that counts itself, takes `delay`, and returns `v<n>`.
    fn compute(
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

fn catalog(scope: Scope) -> ViewKey<'static> {
    ViewKey {
        namespace: "catalog",
        route: "/api/catalog",
        query: "",
        only: None,
        scope,
    }
}

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn stampede(cache: &Cache, counter: &Counter, callers: usize) -> Vec<CachedBody> {
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let cache = cache.clone();
            let compute = counter.compute(Duration::from_millis(200));
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
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap().unwrap());
    }
    out
}

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
    let cache = Cache::new(Backend::Memory, Metrics::new(), config());
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
    until("the computation to start", || async { counter.get() == 1 }).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_entry_is_served_at_once_and_refreshed_exactly_once() {
    let cache = cache_for(
        &prefix(),
        CacheConfig {
            jitter: 0.0,
            stale_fraction: 20.0,
            ..config()
        },
    );
    let counter = Counter::default();
    let ttl = Duration::from_millis(300);
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
    let deadline = Instant::now() + DEADLINE;
    let stale = loop {
        let got = read(Duration::from_millis(500)).await;
        if got.outcome == CacheEvent::Stale {
            break got;
        }
        assert!(Instant::now() < deadline, "the entry never went stale");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(stale.body.as_deref(), Some(&b"v1"[..]));
    let more =
        futures_util::future::join_all((0..50).map(|_| read(Duration::from_millis(500)))).await;
    assert!(more
        .iter()
        .all(|b| b.outcome == CacheEvent::Stale && b.body.as_deref() == Some(&b"v1"[..])));
    until("the refreshed value", || {
        let read = read(Duration::ZERO);
        async move { read.await.body.as_deref() == Some(&b"v2"[..]) }
    })
    .await;
    assert_eq!(counter.get(), 2, "exactly one refresh");
    assert_eq!(read(Duration::ZERO).await.outcome, CacheEvent::Hit);
}

#[tokio::test]
async fn a_failed_refresh_keeps_serving_the_stale_value_and_is_counted() {
    let cache = cache_for(
        &prefix(),
        CacheConfig {
            jitter: 0.0,
            stale_fraction: 20.0,
            ..config()
        },
    );
    let ttl = Duration::from_millis(200);
    let ok = || async { Ok::<_, String>(Bytes::from_static(b"good")) };
    let failing = || async { Err::<Bytes, _>("database down".to_string()) };
    cache
        .view(catalog(Scope::Public), ttl, None, ok)
        .await
        .unwrap();
    until("a refresh to fail", || async {
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
    until("the computation to start", || async { counter.get() == 1 }).await;
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

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
struct Summary {
    product_id: i64,
    units_sold: i64,
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
async fn if_none_match_with_the_stored_etag_answers_without_the_body() {
    let cache = cache_for(&prefix(), config());
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let first = cache
        .view(
            catalog(Scope::Tenant(1)),
            ttl,
            None,
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    let etag = first.etag.to_string();
    let matched = cache
        .view(
            catalog(Scope::Tenant(1)),
            ttl,
            Some(&etag),
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!((matched.body, matched.outcome), (None, CacheEvent::Hit));
    assert_eq!(matched.etag, first.etag);
    let listed = format!("\"nope\", W/{etag}");
    let weak = cache
        .view(
            catalog(Scope::Tenant(1)),
            ttl,
            Some(&listed),
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(weak.body, None);
    let other = cache
        .view(
            catalog(Scope::Tenant(1)),
            ttl,
            Some("\"nope\""),
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(other.body.as_deref(), Some(&b"v1"[..]));
    // Another tenant with tenant 1's etag gets its own body, never a 304 on 1's entry.
    let b = cache
        .view(
            catalog(Scope::Tenant(2)),
            ttl,
            Some(&etag),
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(b.body.as_deref(), Some(&b"v2"[..]));
    assert_eq!(counter.get(), 2);
}

#[tokio::test]
async fn normalized_queries_share_an_entry() {
    let cache = cache_for(&prefix(), config());
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let search = |query| ViewKey {
        namespace: "search",
        route: "/api/search",
        query,
        only: Some(&["q", "limit"]),
        scope: Scope::Tenant(1),
    };
    for q in [
        "q=a&limit=5",
        "limit=5&q=a",
        "?limit=5&q=%61",
        "q=a&limit=5&junk=1",
    ] {
        cache
            .view(search(q), ttl, None, counter.compute(Duration::ZERO))
            .await
            .unwrap();
    }
    assert_eq!(counter.get(), 1);
    cache
        .view(
            search("q=a&limit=6"),
            ttl,
            None,
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(counter.get(), 2);
}

#[tokio::test]
async fn garbage_in_an_entry_is_a_miss() {
    let prefix = prefix();
    let cache = cache_for(&prefix, config());
    let keys = keys::view_keys(&prefix, Scope::Tenant(1), "catalog", "/api/catalog", "");
    let mut conn = redis(REDIS, &prefix).conn();
    let _: () = redis::cmd("SET")
        .arg(&keys.entry)
        .arg("definitely not an envelope")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
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
    assert_eq!((got.outcome, counter.get()), (CacheEvent::Miss, 1));
    assert_eq!(got.body.as_deref(), Some(&b"v1"[..]));
}

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
    let keys = keys::view_keys(&prefix, Scope::Tenant(1), "catalog", "/api/catalog", "")
        .with_generation_lease(0);
    let mut conn = redis(REDIS, &prefix).conn();
    let _: () = redis::cmd("SET")
        .arg(&keys.lease)
        .arg("dead-token")
        .arg("PX")
        .arg(300)
        .query_async(&mut conn)
        .await
        .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cut_through_a_proxy_is_bypassed_and_used_again_when_back() {
    let proxy = TcpProxy::start().await;
    let prefix = prefix();
    let cache = Cache::new(
        Backend::Redis(redis(&format!("127.0.0.1:{}", proxy.port), &prefix)),
        Metrics::new(),
        config(),
    );
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let read = || {
        cache.view(
            catalog(Scope::Tenant(1)),
            ttl,
            None,
            counter.compute(Duration::ZERO),
        )
    };
    assert_eq!(read().await.unwrap().outcome, CacheEvent::Miss);
    assert_eq!(read().await.unwrap().outcome, CacheEvent::Hit);

    proxy.set(Mode::Refuse);
    for _ in 0..20 {
        // Never an error to the caller: computed and served.
        let got = read().await.unwrap();
        assert!(got.body.is_some());
        assert_eq!(got.outcome, CacheEvent::Error);
    }
    assert_eq!(cache.metrics().cache_count(CacheEvent::Error), 20);
    assert_eq!(counter.get(), 21, "each bypassed read computed");

    proxy.set(Mode::Forward);
    let started = Instant::now();
    until("the cache to use Redis again", || async {
        read().await.unwrap().outcome == CacheEvent::Hit
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[actix_rt::test]
async fn warming_keeps_a_hot_key_from_missing_and_lets_a_cold_key_expire() {
    let prefix = prefix();
    let cache = cache_for(
        &prefix,
        CacheConfig {
            hot_half_life: Duration::from_secs(2),
            ..config()
        },
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let cold_runs = Arc::new(AtomicUsize::new(0));
    let summary = {
        let runs = runs.clone();
        let cold_runs = cold_runs.clone();
        move |_scope: Scope, product_id: i64| {
            let counter = if product_id == 1 {
                runs.clone()
            } else {
                cold_runs.clone()
            };
            async move {
                let n = counter.fetch_add(1, Ordering::SeqCst) as i64;
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok::<_, String>(Summary {
                    product_id,
                    units_sold: n,
                })
            }
        }
    };
    let ttl = Duration::from_millis(400);
    cache.register_memo("summary", ttl, summary.clone());
    let addr = crate::warm::Warmer::start_with(
        cache.clone(),
        crate::warm::WarmConfig {
            interval: Duration::from_millis(50),
            budget: 2,
            hot_accesses: 3.0,
        },
    );
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
    let start = Instant::now();
    let mut outcomes = Vec::new();
    while start.elapsed() < ttl * 3 + ttl / 2 {
        outcomes.push(get(1).await.outcome);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let not_hits: Vec<_> = outcomes.iter().filter(|o| **o != CacheEvent::Hit).collect();
    assert!(not_hits.is_empty(), "hot key saw {not_hits:?}");
    assert!(
        runs.load(Ordering::SeqCst) >= 3,
        "the warmer refreshed the hot key"
    );
    // The cold key (one access) was never refreshed and is gone after its hard TTL.
    let cold = keys::memo_keys(&prefix, Scope::Tenant(1), "summary", "2");
    until("the cold key to expire", || async {
        let l = cache
            .inner
            .store
            .read(&cold, store::Read::Whole)
            .await
            .unwrap();
        l.entry.is_none()
    })
    .await;
    assert_eq!(cold_runs.load(Ordering::SeqCst), 1);
    addr.send(crate::warm::Shutdown).await.unwrap();
}

#[actix_rt::test]
async fn preload_computes_registered_entries_at_start_up() {
    let cache = cache_for(&prefix(), config());
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
    let addr = crate::warm::Warmer::start_with(
        cache.clone(),
        crate::warm::WarmConfig {
            interval: Duration::from_millis(50),
            budget: 2,
            hot_accesses: 3.0,
        },
    );
    until("both catalogs to be preloaded", || async {
        counter.get() == 2
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
    addr.send(crate::warm::Shutdown).await.unwrap();
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

#[tokio::test]
async fn large_views_are_read_header_first_and_served_from_the_local_copy() {
    let prefix = prefix();
    let one = cache_for(&prefix, config());
    let two = cache_for(&prefix, config());
    let big = Bytes::from(vec![b'x'; 100 * 1024]);
    let runs = Arc::new(AtomicUsize::new(0));
    let compute = {
        let (big, runs) = (big.clone(), runs.clone());
        move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(big)
        }
    };
    let ttl = Duration::from_secs(60);
    let first = one
        .view(catalog(Scope::Tenant(1)), ttl, None, compute.clone())
        .await
        .unwrap();
    assert_eq!(first.body.as_ref(), Some(&big));
    // Another process: header-only read, then one GET fills its local copy.
    assert!(two.inner.payloads.get(&first.etag).is_none());
    let got = two
        .view(catalog(Scope::Tenant(1)), ttl, None, compute.clone())
        .await
        .unwrap();
    assert_eq!(
        (got.outcome, got.body.as_ref()),
        (CacheEvent::Hit, Some(&big))
    );
    assert!(two.inner.payloads.get(&first.etag).is_some());
    let again = two
        .view(catalog(Scope::Tenant(1)), ttl, None, compute.clone())
        .await
        .unwrap();
    assert_eq!(
        (again.outcome, again.body.as_ref()),
        (CacheEvent::Hit, Some(&big))
    );
    let not_modified = two
        .view(
            catalog(Scope::Tenant(1)),
            ttl,
            Some(&first.etag),
            compute.clone(),
        )
        .await
        .unwrap();
    assert_eq!(
        (not_modified.outcome, not_modified.body),
        (CacheEvent::Hit, None)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // After an invalidation the local copy of the old ETag is not served.
    two.bump_namespace(Scope::Tenant(1), "catalog").await;
    let fresh = two
        .view(catalog(Scope::Tenant(1)), ttl, Some(&first.etag), compute)
        .await
        .unwrap();
    assert_eq!(fresh.outcome, CacheEvent::Miss);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_accepts_but_never_answers_is_bypassed_after_its_timeout() {
    // A black hole: connections are accepted and never answered.
    let hole = TcpProxy::start().await;
    hole.set(Mode::Blackhole);
    let cache = Cache::new(
        Backend::Redis(redis(&format!("127.0.0.1:{}", hole.port), &prefix())),
        Metrics::new(),
        config(),
    );
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    for _ in 0..10 {
        let got = cache
            .view(
                catalog(Scope::Tenant(1)),
                ttl,
                None,
                counter.compute(Duration::ZERO),
            )
            .await
            .unwrap();
        assert_eq!(got.outcome, CacheEvent::Error);
        assert!(got.body.is_some());
    }
    assert_eq!(counter.get(), 10);
    assert_eq!(cache.metrics().cache_count(CacheEvent::Error), 10);
}

async fn redis_get(prefix: &str, key: &str) -> Option<String> {
    let mut conn = redis(REDIS, prefix).conn();
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

fn order_count(
    runs: &Arc<AtomicUsize>,
) -> impl FnOnce() -> BoxFuture<'static, Result<i64, String>> + Clone + Send + 'static {
    let runs = runs.clone();
    move || async move { Ok(runs.fetch_add(1, Ordering::SeqCst) as i64 + 100) }.boxed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_that_fail_while_redis_is_cut_are_retried_and_reach_other_processes() {
    let proxy = TcpProxy::start().await;
    let prefix = prefix();
    let one = Cache::new(
        Backend::Redis(redis(&format!("127.0.0.1:{}", proxy.port), &prefix)),
        Metrics::new(),
        config(),
    );
    // Another process, with its own connection to Redis (never cut).
    let two = cache_for(&prefix, config());
    let counter = Counter::default();
    let runs = Arc::new(AtomicUsize::new(0));
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
    let count = |cache: &Cache| {
        let (cache, compute) = (cache.clone(), order_count(&runs));
        async move {
            cache
                .memoize::<i64, _, _, _, _>("order_count", "all", Scope::Tenant(1), ttl, compute)
                .await
                .unwrap()
        }
    };
    assert_eq!(read(&one).await.body.as_deref(), Some(&b"v1"[..]));
    assert_eq!(read(&two).await.outcome, CacheEvent::Hit);
    assert_eq!(count(&one).await.value, 100);
    assert_eq!(count(&two).await.outcome, CacheEvent::Hit);

    proxy.set(Mode::Refuse);
    // The write commits; its invalidations fail and are kept.
    one.bump_namespace(Scope::Tenant(1), "catalog").await;
    one.delete_memo("order_count", "all", Scope::Tenant(1))
        .await;
    let stats = one.invalidation_stats();
    assert_eq!((stats.pending, stats.failed), (2, 2));
    assert!(one.metrics().cache_count(CacheEvent::Error) >= 2);
    // Reads in this process compute: new values, never the old entry.
    for expected in [&b"v2"[..], &b"v3"[..]] {
        let got = read(&one).await;
        assert_eq!(got.body.as_deref(), Some(expected));
        assert_eq!(got.outcome, CacheEvent::Error);
    }
    assert_eq!(count(&one).await.value, 101);
    assert_eq!(count(&one).await.value, 102);
    assert_eq!(counter.get(), 3);

    proxy.set(Mode::Forward);
    until("the pending invalidations to reach Redis", || async {
        one.invalidation_stats().pending == 0
    })
    .await;
    assert_eq!(one.invalidation_stats().retried, 2);
    let generation = keys::namespace_generation_key(&prefix, Scope::Tenant(1), "catalog");
    assert_eq!(redis_get(&prefix, &generation).await.as_deref(), Some("1"));
    // The other process sees the new generations and recomputes.
    let got = read(&two).await;
    assert_eq!(
        (got.outcome, got.body.as_deref()),
        (CacheEvent::Miss, Some(&b"v4"[..]))
    );
    let got = count(&two).await;
    assert_eq!((got.outcome, got.value), (CacheEvent::Miss, 103));
    // Nothing left to retry: the task exits instead of looping.
    until("the retry task to exit", || async {
        !one.inner.invalidations.retrying()
    })
    .await;
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
    // A Redis that answers reads but rejects the bump: the counter holds a value
    // INCR refuses (reads take it as generation 0, the old entry's).
    let generation = keys::namespace_generation_key(&prefix, Scope::Tenant(1), "catalog");
    let mut conn = redis(REDIS, &prefix).conn();
    let _: () = redis::cmd("SET")
        .arg(&generation)
        .arg("not-a-number")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
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
    until("a retry to fail", || async {
        one.invalidation_stats().retry_failures >= 1
    })
    .await;
    assert_eq!(one.invalidation_stats().pending, 1);
    assert_eq!(read(&one).await.body.as_deref(), Some(&b"v4"[..]));

    let _: () = redis::cmd("DEL")
        .arg(&generation)
        .query_async(&mut conn)
        .await
        .unwrap();
    until("the pending bump to land", || async {
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
async fn an_invalidation_issued_while_the_breaker_is_open_still_reaches_redis() {
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
    let broken = keys::view_keys(&prefix, Scope::Tenant(9), "catalog", "/api/catalog", "");
    let mut conn = redis(REDIS, &prefix).conn();
    let _: () = redis::pipe()
        .cmd("HSET")
        .arg(&broken.entry)
        .arg("f")
        .arg("v")
        .ignore()
        .cmd("PEXPIRE")
        .arg(&broken.entry)
        .arg(60_000)
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(read(&one, 9).await.outcome, CacheEvent::Error);
    // Open: reads bypass Redis.
    assert_eq!(read(&one, 1).await.outcome, CacheEvent::Error);

    one.bump_namespace(Scope::Tenant(1), "catalog").await;
    let stats = one.invalidation_stats();
    assert_eq!((stats.pending, stats.failed), (0, 0));
    let generation = keys::namespace_generation_key(&prefix, Scope::Tenant(1), "catalog");
    assert_eq!(redis_get(&prefix, &generation).await.as_deref(), Some("1"));
    assert_eq!(read(&two, 1).await.outcome, CacheEvent::Miss);
    // Still open for reads.
    assert_eq!(read(&one, 1).await.outcome, CacheEvent::Error);
}

#[tokio::test]
async fn dropping_the_cache_stops_its_retry_task() {
    let prefix = prefix();
    let cache = cache_for(&prefix, config());
    let generation = keys::namespace_generation_key(&prefix, Scope::Tenant(1), "catalog");
    let mut conn = redis(REDIS, &prefix).conn();
    let _: () = redis::cmd("SET")
        .arg(&generation)
        .arg("not-a-number")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    cache.bump_namespace(Scope::Tenant(1), "catalog").await;
    let invalidations = Arc::clone(&cache.inner.invalidations);
    assert!(invalidations.retrying());
    until("a retry to fail", || async {
        invalidations.stats().retry_failures >= 1
    })
    .await;
    drop(cache);
    until("the retry task to stop", || async {
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
    let mut conn = redis(REDIS, &prefix).conn();
    let _: () = redis::cmd("SET")
        .arg(&generation)
        .arg("not-a-number")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    cache.bump_namespace(Scope::Tenant(1), "catalog").await;
    // Redis still refuses it: still pending when the deadline passes.
    assert_eq!(
        cache.flush_invalidations(Duration::from_millis(200)).await,
        1
    );
    let _: () = redis::cmd("DEL")
        .arg(&generation)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(cache.flush_invalidations(DEADLINE).await, 0);
    assert_eq!(redis_get(&prefix, &generation).await.as_deref(), Some("1"));
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
    let started = Arc::new(AtomicUsize::new(0));
    // Process A computes generation 0 and is stuck until the test lets it go.
    let slow = {
        let a = a.clone();
        let held = held.clone();
        let started = started.clone();
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
    let deadline = Instant::now() + DEADLINE;
    while started.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "A never started computing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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
