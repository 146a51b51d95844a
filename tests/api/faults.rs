//! The quick halves of the fault suite's findings (issue 10; the load and latency
//! halves run in `make faults`): a hung Redis costs a write one timeout, not one per
//! Redis call.

use crate::helpers::*;
use brisk::metrics::LimiterEvent;
use brisk::testing::Mode;
use std::time::{Duration, Instant};

#[actix_web::test]
async fn a_write_while_redis_hangs_waits_for_one_redis_timeout_not_one_per_call() {
    let proxy = RedisProxy::start().await;
    let url = proxy.url();
    let app = spawn_app_with(|a| {
        a.redis.redis_url = url;
        // Long enough that one timeout stands out from the database's time on a
        // loaded machine.
        a.redis.redis_timeout_ms = 400;
        // No breaker window: every request tries Redis afresh, as the first request
        // of each window does.
        a.ratelimit.rate_limit_breaker_ms = 1;
        a.cache.cache_breaker_ms = 1;
    })
    .await;
    let id = product_ids(&mut app.db(), 1)[0];
    let (price_101, price_102) = (
        serde_json::json!({ "price_cents": 101 }),
        serde_json::json!({ "price_cents": 102 }),
    );
    // Redis healthy: the key is memoized, the limiter and the invalidations use Redis.
    assert_eq!(app.put_product(1, id, &price_101).await.0, 200);
    assert_eq!(app.state.metrics.limiter_count(LimiterEvent::StoreError), 0);

    // Hung: the cut connection's first command may fail at once; from the next
    // one on, every Redis call waits for its timeout.
    proxy.set(Mode::Blackhole);
    assert_eq!(app.put_product(1, id, &price_101).await.0, 200);
    let (errors, failed) = (
        app.state.metrics.limiter_count(LimiterEvent::StoreError),
        app.state.cache.invalidation_stats().failed,
    );
    let started = Instant::now();
    let (status, body) = app.put_product(1, id, &price_102).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    // The key is remembered in the process: the limiter's call is the first to
    // time out; the invalidations then went to the retrier without trying Redis.
    assert_eq!(
        app.state.metrics.limiter_count(LimiterEvent::StoreError),
        errors + 1
    );
    let stats = app.state.cache.invalidation_stats();
    assert!(stats.failed >= failed + 2, "{stats:?}");
    assert!(
        took < Duration::from_millis(700),
        "the write took {took:?}: more than one Redis timeout (400 ms)"
    );
    // Back: the retrier lands them.
    proxy.set(Mode::Forward);
    assert!(
        wait_until(Duration::from_secs(10), || async {
            app.state.cache.invalidation_stats().pending == 0
        })
        .await,
        "the deferred invalidations were not applied"
    );
}
