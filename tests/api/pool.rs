//! The pool under stress: exhaustion answers 503 fast, and dead connections
//! (backends terminated, PgBouncer restarted) are replaced without failing reads.

use crate::helpers::*;
use brisk_kit::testing::Mode;
use diesel::RunQueryDsl;
use serde_json::Value;
use std::time::{Duration, Instant};

#[actix_web::test]
async fn an_exhausted_pool_answers_503_within_the_acquire_timeout() {
    let app = spawn_app_with(|a| {
        a.database.pool_size = 1;
        a.database.pool_acquire_timeout_ms = 300;
    })
    .await;
    let id = product_ids(&mut app.db(), 1)[0];
    // Warm the key memo, then hold the only connection.
    assert_eq!(app.get_json(&format!("/api/products/{id}"), 1).await.0, 200);
    let held = app.state.db.get_owned().await.unwrap();
    let started = Instant::now();
    let resp = app.get(&format!("/api/products/{id}"), Some(&key(1))).await;
    let waited = started.elapsed();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "service_unavailable");
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    drop(held);
    assert_eq!(app.get_json(&format!("/api/products/{id}"), 1).await.0, 200);
}

#[actix_web::test]
async fn reads_survive_terminated_backends() {
    let app = spawn_app_with(|a| a.database.pool_size = 2).await;
    let id = product_ids(&mut app.db(), 1)[0];
    for _ in 0..6 {
        assert_eq!(app.get_json(&format!("/api/products/{id}"), 1).await.0, 200);
    }
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        app.db_name
    ))
    .execute(&mut app.db())
    .unwrap();
    for _ in 0..6 {
        let (status, body) = app.get_json(&format!("/api/products/{id}"), 1).await;
        assert_eq!(status, 200, "{body}");
    }
}

/// Orders of `customer` in the database.
fn orders_of(app: &TestApp, customer: i64) -> i64 {
    diesel::sql_query(format!(
        "SELECT count(*)::int8 AS n FROM orders WHERE customer_id = {customer}"
    ))
    .get_result::<Count>(&mut app.db())
    .unwrap()
    .n
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[actix_web::test]
async fn an_order_on_a_pooled_connection_found_dead_is_placed_on_a_fresh_one() {
    let db = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    let proxy = RedisProxy::start_to("127.0.0.1:6432".parse().unwrap()).await;
    let port = proxy.port;
    let url = format!("postgres://root@127.0.0.1:{port}/{db}");
    let app = spawn_app_on(&db, move |a| {
        a.database.pool_size = 2;
        a.database.database_url = url;
    })
    .await;
    let product = product_ids(&mut app.db(), 2)[0];
    let customer = customer_ids(&mut app.db(), 2)[0];
    diesel::sql_query(format!(
        "UPDATE products SET stock = 1000 WHERE id = {product}"
    ))
    .execute(&mut app.db())
    .unwrap();
    let order = serde_json::json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]});
    let (path, k2) = (format!("/api/products/{product}"), key(2));
    // Every pooled connection open, then dead at its next use: the order first picks a
    // connection that fails as soon as it sends anything, and must be placed on a fresh
    // one, exactly once. (A keyed order is not placed again in the server: its client
    // retries with the key.)
    let warm: Vec<_> = (0..4).map(|_| app.get(&path, Some(&k2))).collect();
    futures_util::future::join_all(warm).await;
    proxy.set(Mode::Stale);
    let before = orders_of(&app, customer);
    let (status, body) = app.post_order(2, &order, None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(orders_of(&app, customer), before + 1, "exactly one order");
    let broken = app
        .state
        .db
        .stats()
        .broken_retries
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        broken >= 1,
        "each write met a dead connection first ({broken} retries)"
    );
}

#[actix_web::test]
async fn reads_recover_after_pgbouncer_restarts() {
    let (mut bouncer, app) = spawn_app_behind_own_pgbouncer(20, 2).await;
    let id = product_ids(&mut app.db(), 1)[0];
    for _ in 0..4 {
        assert_eq!(app.get_json(&format!("/api/products/{id}"), 1).await.0, 200);
    }
    bouncer = tokio::task::spawn_blocking(move || {
        bouncer.terminate();
        bouncer.restart();
        bouncer
    })
    .await
    .unwrap();
    for _ in 0..6 {
        let (status, body) = app.get_json(&format!("/api/products/{id}"), 1).await;
        assert_eq!(status, 200, "{body}");
    }
    drop(bouncer);
}

#[actix_web::test]
async fn a_statement_stuck_behind_a_lock_is_cancelled_and_answers_503() {
    let app = spawn_app_with(|a| a.database.db_statement_timeout_ms = 300).await;
    let id = product_ids(&mut app.db(), 1)[0];
    // Another session holds the product's row lock for the whole request.
    let mut holder = app.db();
    diesel::sql_query("BEGIN").execute(&mut holder).unwrap();
    diesel::sql_query(format!(
        "SELECT id FROM products WHERE id = {id} FOR UPDATE"
    ))
    .execute(&mut holder)
    .unwrap();
    let started = Instant::now();
    let (status, body) = app
        .put_product(1, id, &serde_json::json!({"stock": 3}))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "service_unavailable");
    assert!(started.elapsed() < Duration::from_secs(10));
    diesel::sql_query("ROLLBACK").execute(&mut holder).unwrap();
    let (status, _) = app
        .put_product(1, id, &serde_json::json!({"stock": 3}))
        .await;
    assert_eq!(status, 200);
}
