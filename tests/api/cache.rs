//! The cache through the real server: stampedes, two processes, cancellation,
//! invalidation after writes, tenant scoping, and a Redis cut mid-test.
//!
//! Aggregate runs are counted from `Server-Timing`: the cache charges a
//! computation's statements to the request that started it, so the sum over all
//! responses is the number of statements the database ran for them.

use crate::helpers::{
    key, product_ids, spawn_app_on, spawn_app_with, statements, wait_until, RedisProxy, TestApp,
};
use diesel::{PgConnection, RunQueryDsl};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

fn x_cache(resp: &Response) -> String {
    resp.headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// One GET with tenant `tenant`'s key: (status, x-cache, statements, body).
async fn get(app: &TestApp, path: &str, tenant: i64) -> (u16, String, u64, Vec<u8>) {
    let resp = app.get(path, Some(&key(tenant))).await;
    let status = resp.status().as_u16();
    let cache = x_cache(&resp);
    let n = statements(&resp);
    let body = resp.bytes().await.unwrap().to_vec();
    (status, cache, n, body)
}

async fn stampede(app: &TestApp, path: &str, n: usize) -> Vec<(u16, String, u64, Vec<u8>)> {
    let calls = (0..n).map(|_| get(app, path, 1));
    futures_util::future::join_all(calls).await
}

/// A debug build answering 200 concurrent requests on two shared cores can take
/// longer than the default 100 ms Redis timeout to poll a reply; a timed-out read
/// bypasses the cache (and computes), which would blur the counts these tests make.
/// Timeouts have their own tests (the proxy cut here, a silent Redis in the unit
/// tests). Rate limits are off: stampedes of 200 would exceed a plan, and the
/// limiter has its own tests.
fn patient_redis(args: &mut brisk::config::ServeArgs) {
    args.redis.redis_timeout_ms = 2_000;
    args.ratelimit.rate_limit_disabled = true;
}

fn first_product(app: &TestApp, tenant: i64) -> i64 {
    product_ids(&mut app.db(), tenant)[0]
}

/// Opens a pooled connection (its set-up statements would be charged to the first
/// request that needs one) and resolves the key, so a stampede counts only itself.
async fn warm_up(app: &TestApp, product: i64) {
    assert_eq!(
        get(app, &format!("/api/products/{product}"), 1).await.0,
        200
    );
}

#[actix_web::test]
async fn a_stampede_of_200_on_one_cold_summary_runs_the_aggregate_once() {
    let app = spawn_app_with(patient_redis).await;
    let id = first_product(&app, 1);
    warm_up(&app, id).await;
    let answers = stampede(&app, &format!("/api/products/{id}/summary"), 200).await;
    assert!(
        answers.iter().all(|a| a.0 == 200),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert!(
        answers.iter().all(|a| a.3 == answers[0].3),
        "all bodies identical"
    );
    let summary: Value = serde_json::from_slice(&answers[0].3).unwrap();
    assert_eq!(summary["product_id"], id);
    let ran: u64 = answers.iter().map(|a| a.2).sum();
    assert_eq!(ran, 1, "the aggregate ran once");
    assert_eq!(answers.iter().filter(|a| a.2 > 0).count(), 1);
    let misses = answers.iter().filter(|a| a.1 == "miss").count();
    assert_eq!(misses, 1);
    assert!(answers
        .iter()
        .all(|a| a.1 == "miss" || a.1 == "coalesced" || a.1 == "hit"));
}

#[actix_web::test]
async fn two_server_processes_sharing_redis_run_the_aggregate_once_per_cluster() {
    let one = spawn_app_with(patient_redis).await;
    let prefix = one.redis_prefix.clone();
    let two = spawn_app_on(&one.db_name, |args| {
        patient_redis(args);
        args.redis.redis_prefix = prefix;
    })
    .await;
    let id = first_product(&one, 1);
    let path = format!("/api/products/{id}/summary");
    warm_up(&one, id).await;
    warm_up(&two, id).await;
    let (a, b) = tokio::join!(stampede(&one, &path, 100), stampede(&two, &path, 100));
    let all: Vec<_> = a.iter().chain(b.iter()).collect();
    assert!(all.iter().all(|x| x.0 == 200));
    assert!(all.iter().all(|x| x.3 == all[0].3), "all bodies identical");
    let ran: u64 = all.iter().map(|x| x.2).sum();
    let counted: Vec<_> = all
        .iter()
        .filter(|x| x.2 > 0)
        .map(|x| (x.1.clone(), x.2))
        .collect();
    assert_eq!(ran, 1, "the aggregate ran once in the cluster: {counted:?}");
    assert_eq!(all.iter().filter(|x| x.1 == "miss").count(), 1);
}

/// Holds an ACCESS EXCLUSIVE lock on `order_items` (the summary's table) until dropped.
struct TableLock(PgConnection);

impl TableLock {
    fn take(app: &TestApp) -> Self {
        let mut conn = app.db();
        diesel::sql_query("BEGIN").execute(&mut conn).unwrap();
        diesel::sql_query("LOCK TABLE order_items IN ACCESS EXCLUSIVE MODE")
            .execute(&mut conn)
            .unwrap();
        Self(conn)
    }

    fn release(mut self) {
        diesel::sql_query("COMMIT").execute(&mut self.0).unwrap();
    }
}

fn queries_waiting_on_a_lock(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db();
    diesel::sql_query(format!(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '{}' AND wait_event_type = 'Lock'",
        app.db_name
    ))
    .get_result::<N>(&mut conn)
    .unwrap()
    .n
}

#[actix_web::test]
async fn a_client_that_disconnects_does_not_cancel_the_computation_for_the_others() {
    let app = spawn_app_with(patient_redis).await;
    let id = first_product(&app, 1);
    let path = format!("/api/products/{id}/summary");
    let lock = TableLock::take(&app);
    // The first client starts the computation, which blocks on the lock, then gives up.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let first = {
        let url = app.url(&path);
        tokio::spawn(async move { impatient.get(url).bearer_auth(key(1)).send().await })
    };
    assert!(
        wait_until(Duration::from_secs(10), || async {
            queries_waiting_on_a_lock(&app) == 1
        })
        .await,
        "the aggregate never started"
    );
    let second = {
        let client = app.client.clone();
        let url = app.url(&path);
        tokio::spawn(async move { client.get(url).bearer_auth(key(1)).send().await })
    };
    assert!(
        first.await.unwrap().is_err(),
        "the first client timed out and disconnected"
    );
    lock.release();
    let resp = second.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        x_cache(&resp),
        "coalesced",
        "joined the first client's computation"
    );
    assert_eq!(statements(&resp), 0);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["product_id"], id);
    let (status, cache, ran, _) = get(&app, &path, 1).await;
    assert_eq!((status, cache.as_str(), ran), (200, "hit", 0));
}

#[actix_web::test]
async fn the_catalog_answers_304_from_the_stored_etag_without_a_query() {
    let app = spawn_app_with(patient_redis).await;
    let first = app.get("/api/catalog", Some(&key(1))).await;
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(first.headers()["cache-control"], "private, max-age=60");
    let resp = app
        .client
        .get(app.url("/api/catalog"))
        .bearer_auth(key(1))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(resp.headers()["cache-control"], "private, max-age=60");
    assert_eq!(statements(&resp), 0);
    assert!(resp.bytes().await.unwrap().is_empty());
}

#[actix_web::test]
async fn search_queries_in_any_parameter_order_share_one_entry() {
    let app = spawn_app_with(patient_redis).await;
    let (s1, c1, n1, b1) = get(&app, "/api/search?q=a&limit=5", 1).await;
    assert_eq!((s1, c1.as_str()), (200, "miss"));
    assert!(n1 >= 1);
    let (s2, c2, n2, b2) = get(&app, "/api/search?limit=5&q=a", 1).await;
    assert_eq!((s2, c2.as_str(), n2), (200, "hit", 0));
    assert_eq!(b1, b2);
    let (_, c3, _, b3) = get(&app, "/api/search?limit=6&q=a", 1).await;
    assert_eq!(c3, "miss");
    assert_ne!(b1, b3);
    // Validation still runs before the cache.
    let (bad, _, _, _) = get(&app, "/api/search?q=&limit=5", 1).await;
    assert_eq!(bad, 400);
}

#[actix_web::test]
async fn tenant_a_cached_catalog_is_never_served_to_tenant_b() {
    let app = spawn_app_with(patient_redis).await;
    let (status, _, _, body) = get(&app, "/api/catalog", 1).await;
    assert_eq!(status, 200);
    let one: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(one["tenant_id"], 1);
    let etag_one = app.get("/api/catalog", Some(&key(1))).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let ids_one: Vec<i64> = product_ids(&mut app.db(), 1);
    for path in [
        "/api/catalog",
        "/api/catalog/",
        "/api/catalog;x",
        "/API/catalog",
        "/api/catalog?x=1",
    ] {
        let resp = app
            .client
            .get(app.url(path))
            .bearer_auth(key(2))
            .header("If-None-Match", &etag_one)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert_ne!(
            status,
            StatusCode::NOT_MODIFIED,
            "{path}: tenant 1's etag matched for tenant 2"
        );
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status == StatusCode::OK {
            assert_eq!(body["tenant_id"], 2, "{path}");
            let ids: Vec<i64> = body["products"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_i64().unwrap())
                .collect();
            assert!(
                ids.iter().all(|id| !ids_one.contains(id)),
                "{path}: tenant 1's products"
            );
        } else {
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert!(body.get("products").is_none(), "{path}");
        }
    }
}

#[actix_web::test]
async fn a_product_update_shows_in_the_next_catalog_and_search_with_a_new_etag() {
    let app = spawn_app_with(patient_redis).await;
    let id = first_product(&app, 1);
    let before = app.get("/api/catalog", Some(&key(1))).await;
    let etag_before = before.headers()["etag"].to_str().unwrap().to_string();
    let (_, _, _, search_before) = get(&app, "/api/search?q=Zebracorn", 1).await;
    let found: Value = serde_json::from_slice(&search_before).unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 0);

    let (status, _) = app
        .put_product(
            1,
            id,
            &json!({"name": "Zebracorn Lamp", "price_cents": 4242}),
        )
        .await;
    assert_eq!(status, 200);

    let after = app
        .client
        .get(app.url("/api/catalog"))
        .bearer_auth(key(1))
        .header("If-None-Match", &etag_before)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        StatusCode::OK,
        "the old etag no longer matches"
    );
    assert_ne!(after.headers()["etag"].to_str().unwrap(), etag_before);
    let catalog: Value = after.json().await.unwrap();
    let product = catalog["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(
        (product["name"].as_str(), product["price_cents"].as_i64()),
        (Some("Zebracorn Lamp"), Some(4242))
    );
    let (_, cache, _, search_after) = get(&app, "/api/search?q=Zebracorn", 1).await;
    assert_eq!(cache, "miss");
    let found: Value = serde_json::from_slice(&search_after).unwrap();
    assert_eq!(found["items"][0]["id"], id);
    // Another tenant's cached catalog is untouched.
    let (_, c2a, _, _) = get(&app, "/api/catalog", 2).await;
    let (_, c2b, _, _) = get(&app, "/api/catalog", 2).await;
    assert_eq!(c2b, "hit", "{c2a} then {c2b}");
}

#[actix_web::test]
async fn an_order_updates_the_summary_and_the_catalog_stock() {
    let app = spawn_app_with(patient_redis).await;
    let id = first_product(&app, 1);
    let customer = crate::helpers::customer_ids(&mut app.db(), 1)[0];
    let path = format!("/api/products/{id}/summary");
    let (_, _, _, before) = get(&app, &path, 1).await;
    let before: Value = serde_json::from_slice(&before).unwrap();
    let (_, cache, _, _) = get(&app, &path, 1).await;
    assert_eq!(cache, "hit");
    let (_, _, _, catalog) = get(&app, "/api/catalog", 1).await;
    let catalog: Value = serde_json::from_slice(&catalog).unwrap();
    let stock = |c: &Value| {
        c["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()["stock"]
            .as_i64()
            .unwrap()
    };
    let stock_before = stock(&catalog);
    assert!(stock_before >= 1, "the first product has stock");

    let (status, _) = app
        .post_order(
            1,
            &json!({"customer_id": customer, "items": [{"product_id": id, "quantity": 1}]}),
            None,
        )
        .await;
    assert_eq!(status, 201);

    // The order is pending (not cancelled), so it counts in the summary.
    let (_, cache, _, after) = get(&app, &path, 1).await;
    assert_eq!(cache, "miss");
    let after: Value = serde_json::from_slice(&after).unwrap();
    assert_eq!(
        after["units_sold"].as_i64().unwrap(),
        before["units_sold"].as_i64().unwrap() + 1
    );
    assert_eq!(
        after["order_count"].as_i64().unwrap(),
        before["order_count"].as_i64().unwrap() + 1
    );
    let (_, _, _, catalog) = get(&app, "/api/catalog", 1).await;
    assert_eq!(
        stock(&serde_json::from_slice(&catalog).unwrap()),
        stock_before - 1
    );
}

#[actix_web::test]
async fn with_redis_cut_every_cached_route_still_answers_200_and_recovers() {
    let proxy = RedisProxy::start().await;
    let url = proxy.url();
    let app = spawn_app_with(|args| {
        // A cut connection fails at once; the patient timeout only keeps a
        // loaded test machine from tripping the breaker before the cut.
        patient_redis(args);
        args.redis.redis_url = url;
    })
    .await;
    let id = first_product(&app, 1);
    let paths = [
        "/api/catalog".to_string(),
        "/api/search?q=a".to_string(),
        format!("/api/products/{id}/summary"),
    ];
    for p in &paths {
        assert_eq!(get(&app, p, 1).await.0, 200);
    }
    assert!(
        wait_until(Duration::from_secs(5), || async {
            get(&app, "/api/catalog", 1).await.1 == "hit"
        })
        .await,
        "the catalog is cached before the cut"
    );

    proxy.set_cut(true);
    for round in 0..5 {
        for p in &paths {
            let (status, cache, _, body) = get(&app, p, 1).await;
            assert_eq!(status, 200, "round {round} {p}");
            assert!(!body.is_empty());
            assert_eq!(
                cache, "error",
                "round {round} {p}: served from the database"
            );
        }
    }

    proxy.set_cut(false);
    let started = std::time::Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || async {
            let (status, cache, _, _) = get(&app, "/api/catalog", 1).await;
            assert_eq!(status, 200);
            cache == "hit"
        })
        .await,
        "the cache did not use Redis again within 5 s"
    );
    log::info!("cache back after {:?}", started.elapsed());
}

#[actix_web::test]
async fn the_memory_store_caches_within_one_process() {
    let app = spawn_app_with(|args| args.redis.store = brisk_kit::startup::Store::Memory).await;
    let (s1, c1, _, b1) = get(&app, "/api/catalog", 1).await;
    let (s2, c2, n2, b2) = get(&app, "/api/catalog", 1).await;
    assert_eq!((s1, s2), (200, 200));
    // The warming scheduler preloads catalogs at start-up: the first read may
    // find it done, running, or not started yet.
    assert!(["miss", "coalesced", "hit"].contains(&c1.as_str()), "{c1}");
    assert_eq!((c2.as_str(), n2), ("hit", 0));
    assert_eq!(b1, b2);
    let (_, c3, _, b3) = get(&app, "/api/catalog", 2).await;
    assert_ne!(b1, b3);
    assert!(["miss", "coalesced", "hit"].contains(&c3.as_str()), "{c3}");
}

#[actix_web::test]
async fn with_the_cache_disabled_every_read_computes() {
    let app = spawn_app_with(|args| args.cache.cache_disabled = true).await;
    for _ in 0..2 {
        let (status, cache, n, _) = get(&app, "/api/catalog", 1).await;
        assert_eq!((status, cache.as_str()), (200, "miss"));
        assert!(n >= 1);
    }
}
