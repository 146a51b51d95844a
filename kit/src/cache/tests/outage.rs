//! Redis outages through a TCP proxy: a cut or hung Redis is bypassed (computed and
//! served, never an error to the caller) and used again when back; invalidations
//! issued during the cut are retried and reach the other processes.

use super::*;
use crate::cache::Memo;
use crate::metrics::CacheEvent;
use crate::redis::budget::RedisBudget;
use crate::testing::{Mode, TcpProxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cut_through_a_proxy_is_bypassed_and_used_again_when_back() {
    let proxy = TcpProxy::start().await;
    let address = format!("127.0.0.1:{}", proxy.port);
    let (cache, clock) = cache_on_clock(&address, &prefix(), config());
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
    until("the cache to use Redis again", DEADLINE, || async {
        // Each attempt comes after the breaker window (which a failed one reopens).
        clock.advance(config().breaker);
        read().await.unwrap().outcome == CacheEvent::Hit
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_accepts_but_never_answers_is_bypassed_after_its_timeout() {
    // A black hole: connections are accepted and never answered.
    let hole = TcpProxy::start().await;
    hole.set(Mode::Blackhole);
    let cache = Cache::new(
        Some(redis(&format!("127.0.0.1:{}", hole.port), &prefix())),
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

fn order_count(
    runs: &Arc<AtomicUsize>,
) -> impl FnOnce() -> BoxFuture<'static, Result<i64, String>> + Clone + Send + 'static {
    let runs = runs.clone();
    move || async move { Ok(runs.fetch_add(1, Ordering::SeqCst) as i64 + 100) }.boxed()
}

/// Two processes on one prefix: `one` reaches Redis through `proxy` (the one that is
/// cut), `two` directly; the catalog view and the `order_count` memo they both read.
struct TwoProcesses {
    proxy: TcpProxy,
    prefix: String,
    one: Cache,
    two: Cache,
    counter: Counter,
    runs: Arc<AtomicUsize>,
}

impl TwoProcesses {
    fn start(proxy: TcpProxy) -> TwoProcesses {
        let prefix = prefix();
        let one = Cache::new(
            Some(redis(&format!("127.0.0.1:{}", proxy.port), &prefix)),
            Metrics::new(),
            config(),
        );
        // Another process, with its own connection to the proxy's Redis (never cut).
        let two = Cache::new(Some(redis_node(REDIS, &prefix)), Metrics::new(), config());
        TwoProcesses {
            proxy,
            prefix,
            one,
            two,
            counter: Counter::default(),
            runs: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Tenant 1's catalog view through `cache`.
    async fn read(&self, cache: &Cache) -> CachedBody {
        let compute = self.counter.compute(Duration::ZERO);
        cache
            .view(
                catalog(Scope::Tenant(1)),
                Duration::from_secs(60),
                None,
                compute,
            )
            .await
            .unwrap()
    }

    /// Tenant 1's `order_count` memo through `cache`.
    async fn count(&self, cache: &Cache) -> Memo<i64> {
        let compute = order_count(&self.runs);
        cache
            .memoize::<i64, _, _, _, _>(
                "order_count",
                "all",
                Scope::Tenant(1),
                Duration::from_secs(60),
                compute,
            )
            .await
            .unwrap()
    }

    /// Both values cached by `one` and hits for `two`.
    async fn cache_both(&self) {
        assert_eq!(self.read(&self.one).await.body.as_deref(), Some(&b"v1"[..]));
        assert_eq!(self.read(&self.two).await.outcome, CacheEvent::Hit);
        assert_eq!(self.count(&self.one).await.value, 100);
        assert_eq!(self.count(&self.two).await.outcome, CacheEvent::Hit);
    }

    /// With Redis cut, `one`'s write invalidates both; the invalidations fail and are
    /// kept, and `one`'s reads compute new values, never the old entry.
    async fn invalidate_while_cut(&self) {
        self.proxy.set(Mode::Refuse);
        // The write commits; its invalidations fail and are kept.
        self.one.bump_namespace(Scope::Tenant(1), "catalog").await;
        self.one
            .delete_memo("order_count", "all", Scope::Tenant(1))
            .await;
        let stats = self.one.invalidation_stats();
        assert_eq!((stats.pending, stats.failed), (2, 2));
        assert!(self.one.metrics().cache_count(CacheEvent::Error) >= 2);
        for expected in [&b"v2"[..], &b"v3"[..]] {
            let got = self.read(&self.one).await;
            assert_eq!(got.body.as_deref(), Some(expected));
            assert_eq!(got.outcome, CacheEvent::Error);
        }
        assert_eq!(self.count(&self.one).await.value, 101);
        assert_eq!(self.count(&self.one).await.value, 102);
        assert_eq!(self.counter.get(), 3);
    }

    /// Redis back: the pending invalidations are retried until none is left, and the
    /// catalog's generation moved in Redis.
    async fn retried_once_redis_is_back(&self) {
        self.proxy.set(Mode::Forward);
        until(
            "the pending invalidations to reach Redis",
            DEADLINE,
            || async { self.one.invalidation_stats().pending == 0 },
        )
        .await;
        assert_eq!(self.one.invalidation_stats().retried, 2);
        let generation = keys::namespace_generation_key(&self.prefix, Scope::Tenant(1), "catalog");
        // At least once: on a loaded machine an attempt that Redis applied may answer after
        // the timeout and be retried (a bump only moves the generation forward).
        let mut node = redis_node(REDIS, &self.prefix).conn();
        let get = redis::cmd("GET")
            .arg(&generation)
            .query_async(&mut node)
            .await;
        let bumped: Option<String> = get.unwrap();
        assert!(
            bumped.as_deref().and_then(|g| g.parse::<u64>().ok()) >= Some(1),
            "{bumped:?}"
        );
    }

    /// The other process sees the new generations and recomputes.
    async fn other_process_recomputes(&self) {
        let got = self.read(&self.two).await;
        assert_eq!(
            (got.outcome, got.body.as_deref()),
            (CacheEvent::Miss, Some(&b"v4"[..]))
        );
        let got = self.count(&self.two).await;
        assert_eq!((got.outcome, got.value), (CacheEvent::Miss, 103));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_that_fail_while_redis_is_cut_are_retried_and_reach_other_processes() {
    let both = TwoProcesses::start(TcpProxy::start().await);
    both.cache_both().await;
    both.invalidate_while_cut().await;
    both.retried_once_redis_is_back().await;
    both.other_process_recomputes().await;
    // Nothing left to retry: the task exits instead of looping.
    until("the retry task to exit", DEADLINE, || async {
        !both.one.inner.invalidations.retrying()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_a_request_whose_redis_call_timed_out_later_calls_skip_redis() {
    let hole = TcpProxy::start().await;
    hole.set(Mode::Blackhole);
    let no_breaker = CacheConfig {
        breaker: Duration::ZERO,
        ..config()
    };
    let cache = Cache::new(
        Some(redis(&format!("127.0.0.1:{}", hole.port), &prefix())),
        Metrics::new(),
        no_breaker,
    );
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let request = RedisBudget::default();
    let (read_took, rest_took) = request
        .clone()
        .scope(async {
            let started = Instant::now();
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
            let read_took = started.elapsed();
            let started = Instant::now();
            // Without the budget, each of these would wait for the 100 ms timeout.
            cache.bump_namespace(Scope::Tenant(1), "catalog").await;
            cache.delete_memo("summary", &7, Scope::Tenant(1)).await;
            let got = cache
                .view(
                    catalog(Scope::Tenant(2)),
                    ttl,
                    None,
                    counter.compute(Duration::ZERO),
                )
                .await
                .unwrap();
            assert_eq!(got.outcome, CacheEvent::Error);
            (read_took, started.elapsed())
        })
        .await;
    assert!(request.is_spent());
    assert!(read_took >= Duration::from_millis(90), "{read_took:?}");
    assert!(rest_took < Duration::from_millis(90), "{rest_took:?}");
    // Deferred, not lost.
    assert_eq!(cache.invalidation_stats().failed, 2);
    assert_eq!(counter.get(), 2);
}
