//! The quick halves of the fault suite's findings (issue 10; the load and latency
//! halves run in `make faults`): a hung Redis costs a write one timeout, not one per
//! Redis call; an export is refused (429, 503) before any byte rather than cut short
//! after a 200. (A request written on a keep-alive connection just after SIGTERM is
//! answered: `shutdown.rs`, with the real binary.)

use crate::helpers::*;
use brisk::config::ratelimit::Limits;
use brisk_kit::metrics::LimiterEvent;
use brisk_kit::ratelimit::parse_limits;
use brisk_kit::testing::Mode;
use diesel::RunQueryDsl;
use std::time::{Duration, Instant};

/// A server whose Redis goes through a proxy the test can hang: a 400 ms Redis
/// timeout (long enough to stand out from the database's time on a loaded machine)
/// and no breaker window (every request tries Redis afresh, as the first request of
/// each window does).
async fn behind_a_redis_proxy() -> (TestApp, RedisProxy) {
    let proxy = RedisProxy::start().await;
    let url = proxy.url();
    let app = spawn_app_with(|a| {
        a.redis.redis_url = url;
        a.redis.redis_timeout_ms = 400;
        a.ratelimit.rate_limit_breaker_ms = 1;
        a.cache.cache_breaker_ms = 1;
    })
    .await;
    (app, proxy)
}

#[actix_web::test]
async fn a_write_while_redis_hangs_waits_for_one_redis_timeout_not_one_per_call() {
    let (app, proxy) = behind_a_redis_proxy().await;
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

#[actix_web::test]
async fn requests_sharing_one_key_check_under_a_hung_redis_pay_one_timeout_each() {
    let (app, proxy) = behind_a_redis_proxy().await;
    let id = product_ids(&mut app.db(), 1)[0];
    proxy.set(Mode::Blackhole);
    // The cut connection's first command may fail at once: spend it on another key.
    let _ = app.get(&format!("/api/products/{id}"), Some(&key(2))).await;
    // Tenant 1's key is not remembered yet: these requests share one check of it (its
    // failure-limit reservation and look-up), which meets the hung Redis. Each of them
    // must then skip Redis, not pay its own timeout after the shared one.
    let path = format!("/api/products/{id}");
    let k1 = key(1);
    let timed = (0..8).map(|_| async {
        let started = Instant::now();
        let resp = app.get(&path, Some(&k1)).await;
        (resp.status().as_u16(), started.elapsed())
    });
    for (status, took) in futures_util::future::join_all(timed).await {
        assert_eq!(status, 200);
        assert!(
            took < Duration::from_millis(700),
            "a request took {took:?}: more than one Redis timeout (400 ms)"
        );
    }
}

/// (status, has Retry-After, body) of `GET /api/export.csv` as tenant 1.
async fn export(app: &TestApp) -> (u16, bool, String) {
    let resp = app.get("/api/export.csv", Some(&key(1))).await;
    let status = resp.status().as_u16();
    let retry_after = resp.headers().contains_key("retry-after");
    (status, retry_after, resp.text().await.unwrap_or_default())
}

/// The tenant's order count.
fn order_count(app: &TestApp, tenant: i64) -> i64 {
    use brisk::db::schema::orders::dsl::*;
    use diesel::prelude::*;
    orders
        .filter(tenant_id.eq(tenant))
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

/// Runs `during` while the pool's only connection is taken by a write that waits on
/// a row lock held here; releases the lock afterwards.
async fn with_the_pool_taken<T>(app: &TestApp, during: impl std::future::Future<Output = T>) -> T {
    let id = product_ids(&mut app.db(), 1)[0];
    // Warm the key's memo first (it needs a pooled connection).
    assert_eq!(app.get_json(&format!("/api/products/{id}"), 1).await.0, 200);
    let mut holder = app.db();
    diesel::sql_query("BEGIN").execute(&mut holder).unwrap();
    diesel::sql_query(format!(
        "SELECT id FROM products WHERE id = {id} FOR UPDATE"
    ))
    .execute(&mut holder)
    .unwrap();
    let stock = serde_json::json!({"stock": 5});
    let write = app.put_product(1, id, &stock);
    let during = async {
        // The write has taken the connection by then.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = during.await;
        diesel::sql_query("ROLLBACK").execute(&mut holder).unwrap();
        got
    };
    let ((status, _), got) = futures_util::future::join(write, during).await;
    assert_eq!(status, 200);
    got
}

fn one_connection(a: &mut brisk::config::ServeArgs) {
    a.database.pool_size = 1;
    a.database.pool_acquire_timeout_ms = 1_500;
    a.ratelimit.rate_limit_export = Limits(parse_limits("1000 per day").unwrap());
}

#[actix_web::test]
async fn an_export_that_finds_the_pool_saturated_answers_503_not_a_cut_short_200() {
    let app = spawn_app_with(one_connection).await;
    let (status, retry_after, body) = with_the_pool_taken(&app, export(&app)).await;
    assert_eq!(
        (status, retry_after),
        (503, true),
        "answered before the first chunk was read: {} bytes of body",
        body.len()
    );
    let (status, _, csv) = export(&app).await;
    assert_eq!(status, 200);
    assert_eq!(
        csv.lines().count() as i64,
        order_count(&app, 1) + 1,
        "header + every order"
    );
}

#[actix_web::test]
async fn exports_beyond_the_cap_get_429_with_retry_after() {
    let app = spawn_app_with(|a| {
        one_connection(a);
        a.api.max_concurrent_exports = 1;
    })
    .await;
    let both = futures_util::future::join(export(&app), export(&app));
    let (one, two) = with_the_pool_taken(&app, both).await;
    let mut refused = [(one.0, one.1), (two.0, two.1)];
    refused.sort();
    // One export has the slot and no connection comes in time; the other finds no
    // slot. Both are refused before the file.
    assert_eq!(refused, [(429, true), (503, true)], "{one:?} {two:?}");
    assert!(one.2.contains("exports") || two.2.contains("exports"));
    assert_eq!(export(&app).await.0, 200, "the slot is free again");
}
