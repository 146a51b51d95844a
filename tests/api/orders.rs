//! Order lists (offset, keyset, sparse fields), one order, creation, idempotency,
//! export, dashboard.

use crate::helpers::*;
use diesel::prelude::*;
use diesel::RunQueryDsl;
use serde_json::{json, Value};
use std::collections::HashSet;

fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

#[actix_web::test]
async fn order_pages_load_relations_eagerly_in_three_statements() {
    let app = spawn_app().await;
    for per_page in [1, 50, 100] {
        let resp = app
            .get(&format!("/api/orders?per_page={per_page}"), Some(&key(2)))
            .await;
        assert_eq!(resp.status(), 200);
        assert!(
            statements(&resp) <= 3,
            "per_page={per_page}: {} statements",
            statements(&resp)
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["items"].as_array().unwrap().len(), per_page);
        let o = &body["items"][0];
        for field in [
            "id",
            "status",
            "total_cents",
            "created_at",
            "customer",
            "items",
        ] {
            assert!(!o[field].is_null(), "{field}");
        }
        assert!(o["customer"]["id"].is_i64() && o["customer"]["name"].is_string());
        let item = &o["items"][0];
        for field in ["product_id", "quantity", "unit_price_cents"] {
            assert!(item[field].is_i64(), "{field}");
        }
        let sum: i64 = o["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["quantity"].as_i64().unwrap() * i["unit_price_cents"].as_i64().unwrap())
            .sum();
        assert_eq!(o["total_cents"], sum);
        assert!(body["next_cursor"].is_string());
    }
    // Newest first, ties broken by id.
    let (_, body) = app.get_json("/api/orders?per_page=100", 2).await;
    let items = body["items"].as_array().unwrap();
    for pair in items.windows(2) {
        let a = (
            pair[0]["created_at"].as_str().unwrap(),
            pair[0]["id"].as_i64().unwrap(),
        );
        let b = (
            pair[1]["created_at"].as_str().unwrap(),
            pair[1]["id"].as_i64().unwrap(),
        );
        assert!(a > b, "{a:?} then {b:?}");
    }
    let total: i64 = orders_of(&app, 2);
    assert_eq!(body["total"], total);
    assert_eq!(body["pages"], (total + 99) / 100);
}

fn orders_of(app: &TestApp, tenant: i64) -> i64 {
    use brisk::db::schema::orders::dsl::*;
    orders
        .filter(tenant_id.eq(tenant))
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

#[actix_web::test]
async fn a_page_past_the_end_is_empty_with_the_true_total() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/api/orders?page=100000&per_page=50", 1).await;
    assert_eq!(status, 200);
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["total"], orders_of(&app, 1));
    assert_eq!(body["next_cursor"], Value::Null);
}

#[actix_web::test]
async fn sparse_fieldsets_return_only_named_fields_and_skip_relations() {
    let app = spawn_app().await;
    let resp = app
        .get(
            "/api/orders?fields=id,status,total_cents&per_page=20",
            Some(&key(1)),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(statements(&resp), 2, "page + count, no items, no customers");
    let body: Value = resp.json().await.unwrap();
    for o in body["items"].as_array().unwrap() {
        let keys: HashSet<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, HashSet::from(["id", "status", "total_cents"]));
    }
    let resp = app
        .get("/api/orders?fields=id,items&limit=5", Some(&key(1)))
        .await;
    assert_eq!(statements(&resp), 2, "keyset page + items");
    let body: Value = resp.json().await.unwrap();
    assert!(body["items"][0]["items"].is_array());
    assert!(body["items"][0]["customer"].is_null());

    let (status, body) = app.get_json("/api/orders?fields=id,secret", 1).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("secret"));
}

#[actix_web::test]
async fn status_filter_applies_and_is_validated() {
    let app = spawn_app().await;
    let (_, body) = app
        .get_json("/api/orders?status=cancelled&per_page=100", 3)
        .await;
    assert!(body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["status"] == "cancelled"));
    let (status, body) = app.get_json("/api/orders?status=lost", 3).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("status"));
}

#[actix_web::test]
async fn keyset_pages_equal_offset_pages() {
    let app = spawn_app().await;
    let mut cursor = String::new();
    for page in 1..=5 {
        let (_, offset) = app
            .get_json(
                &format!("/api/orders?page={page}&per_page=30&status=shipped"),
                4,
            )
            .await;
        let path = if cursor.is_empty() {
            "/api/orders?limit=30&status=shipped".to_string()
        } else {
            format!("/api/orders?limit=30&status=shipped&cursor={cursor}")
        };
        let resp = app.get(&path, Some(&key(4))).await;
        assert!(statements(&resp) <= 3);
        let keyset: Value = resp.json().await.unwrap();
        assert_eq!(ids(&keyset["items"]), ids(&offset["items"]), "page {page}");
        assert!(keyset.get("total").is_none());
        assert_eq!(keyset["next_cursor"], offset["next_cursor"]);
        cursor = keyset["next_cursor"].as_str().unwrap().to_string();
    }
}

#[actix_web::test]
async fn keyset_walk_covers_every_order_once_and_ends_with_null() {
    let app = spawn_app().await;
    let mut seen = HashSet::new();
    let mut path = "/api/orders?limit=100&fields=id".to_string();
    loop {
        let (status, body) = app.get_json(&path, 1).await;
        assert_eq!(status, 200);
        for id in ids(&body["items"]) {
            assert!(seen.insert(id), "order {id} twice");
        }
        match body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/orders?limit=100&fields=id&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len() as i64, orders_of(&app, 1));
}

#[actix_web::test]
async fn bad_cursors_and_mixed_pagination_are_rejected() {
    let app = spawn_app().await;
    let (_, first) = app.get_json("/api/orders?limit=10", 1).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let mut tampered = cursor.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for path in [
        format!("/api/orders?cursor={tampered}"),
        "/api/orders?cursor=not-a-cursor".to_string(),
        format!("/api/orders?cursor={cursor}&page=2"),
        "/api/orders?limit=0".to_string(),
    ] {
        let (status, body) = app.get_json(&path, 1).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["error"], "bad_request");
    }
    // A cursor is bound to its tenant.
    let (status, _) = app
        .get_json(&format!("/api/orders?cursor={cursor}"), 2)
        .await;
    assert_eq!(status, 400);
    let (status, _) = app.get_json("/api/orders?cursor=&limit=5", 1).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn one_order_shows_customer_and_items_to_its_tenant_only() {
    let app = spawn_app().await;
    let (_, list) = app.get_json("/api/orders?per_page=1", 2).await;
    let id = list["items"][0]["id"].as_i64().unwrap();
    let (status, body) = app.get_json(&format!("/api/orders/{id}"), 2).await;
    assert_eq!(status, 200);
    assert_eq!(body, list["items"][0]);
    let (status, body) = app.get_json(&format!("/api/orders/{id}"), 1).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
}

fn stock_of(app: &TestApp, product: i64) -> i32 {
    use brisk::db::schema::products::dsl::*;
    products
        .filter(id.eq(product))
        .select(stock)
        .first(&mut app.db())
        .unwrap()
}

fn set_stock(app: &TestApp, product: i64, value: i32) {
    use brisk::db::schema::products::dsl::*;
    diesel::update(products.filter(id.eq(product)))
        .set(stock.eq(value))
        .execute(&mut app.db())
        .unwrap();
}

#[actix_web::test]
async fn creating_an_order_prices_it_and_takes_the_stock() {
    let app = spawn_app().await;
    let mut db = app.db();
    let products = product_ids(&mut db, 1);
    let customer = customer_ids(&mut db, 1)[0];
    let (p1, p2) = (products[0], products[1]);
    set_stock(&app, p1, 10);
    set_stock(&app, p2, 10);
    let (_, prod1) = app.get_json(&format!("/api/products/{p1}"), 1).await;
    let (_, prod2) = app.get_json(&format!("/api/products/{p2}"), 1).await;
    let before = orders_of(&app, 1);

    let (status, order) = app
        .post_order(1, &json!({"customer_id": customer, "items": [{"product_id": p1, "quantity": 2}, {"product_id": p2, "quantity": 3}]}), None)
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "pending");
    assert_eq!(order["customer"]["id"], customer);
    let expected =
        2 * prod1["price_cents"].as_i64().unwrap() + 3 * prod2["price_cents"].as_i64().unwrap();
    assert_eq!(order["total_cents"], expected);
    assert_eq!(order["items"][0]["product_id"], p1);
    assert_eq!(order["items"][0]["unit_price_cents"], prod1["price_cents"]);
    assert_eq!(stock_of(&app, p1), 8);
    assert_eq!(stock_of(&app, p2), 7);
    assert_eq!(orders_of(&app, 1), before + 1);
    let (status, shown) = app
        .get_json(&format!("/api/orders/{}", order["id"]), 1)
        .await;
    assert_eq!(status, 200);
    assert_eq!(shown, order);

    // Insufficient stock: 409 and nothing changes.
    let (status, body) = app
        .post_order(1, &json!({"customer_id": customer, "items": [{"product_id": p1, "quantity": 1}, {"product_id": p2, "quantity": 8}]}), None)
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"], "insufficient_stock");
    assert!(body["detail"].as_str().unwrap().contains(&p2.to_string()));
    assert_eq!((stock_of(&app, p1), stock_of(&app, p2)), (8, 7));
    assert_eq!(orders_of(&app, 1), before + 1);
}

#[actix_web::test]
async fn orders_refuse_other_tenants_rows_and_bad_lines() {
    let app = spawn_app().await;
    let mut db = app.db();
    let mine = product_ids(&mut db, 1)[0];
    let theirs = product_ids(&mut db, 2)[0];
    let my_customer = customer_ids(&mut db, 1)[0];
    let their_customer = customer_ids(&mut db, 2)[0];
    let before = orders_of(&app, 1);

    let (status, body) = app
        .post_order(
            1,
            &json!({"customer_id": their_customer, "items": [{"product_id": mine, "quantity": 1}]}),
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains(&format!("customer {their_customer}")));
    let (status, body) = app
        .post_order(1, &json!({"customer_id": my_customer, "items": [{"product_id": mine, "quantity": 1}, {"product_id": theirs, "quantity": 1}]}), None)
        .await;
    assert_eq!(status, 404);
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains(&format!("product {theirs}")));

    let many: Vec<Value> = (1..=51)
        .map(|i| json!({"product_id": i, "quantity": 1}))
        .collect();
    for (body, field) in [
        (json!({"customer_id": my_customer, "items": []}), "items"),
        (json!({"customer_id": my_customer, "items": many}), "items"),
        (
            json!({"customer_id": my_customer, "items": [{"product_id": mine, "quantity": 1}, {"product_id": mine, "quantity": 2}]}),
            "items[1].product_id",
        ),
        (
            json!({"customer_id": my_customer, "items": [{"product_id": mine, "quantity": 0}]}),
            "items[0].quantity",
        ),
        (
            json!({"customer_id": my_customer, "items": [{"product_id": mine, "quantity": 1001}]}),
            "items[0].quantity",
        ),
        (
            json!({"customer_id": my_customer, "items": [{"product_id": mine, "quantity": "2"}]}),
            "items[0].quantity",
        ),
        (
            json!({"items": [{"product_id": mine, "quantity": 1}]}),
            "customer_id",
        ),
    ] {
        let (status, resp) = app.post_order(1, &body, None).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            resp["detail"].as_str().unwrap().contains(field),
            "{field}: {resp}"
        );
    }
    assert_eq!(orders_of(&app, 1), before);
}

#[actix_web::test]
async fn twenty_concurrent_orders_on_ten_in_stock_sell_exactly_ten() {
    let app = spawn_app_with(|a| a.database.pool_size = 8).await;
    let mut db = app.db();
    let product = product_ids(&mut db, 3)[0];
    let customer = customer_ids(&mut db, 3)[0];
    set_stock(&app, product, 10);
    let body = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]});
    let results =
        futures_util::future::join_all((0..20).map(|_| app.post_order(3, &body, None))).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let conflicts = results.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((created, conflicts), (10, 10), "{results:?}");
    assert_eq!(stock_of(&app, product), 0);
}

#[actix_web::test]
async fn an_idempotent_retry_replays_the_first_answer_and_creates_nothing() {
    let app = spawn_app().await;
    let mut db = app.db();
    let product = product_ids(&mut db, 2)[1];
    let customer = customer_ids(&mut db, 2)[1];
    set_stock(&app, product, 100);
    let before = orders_of(&app, 2);
    let body = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]});
    let (s1, first) = app.post_order(2, &body, Some("retry-1")).await;
    assert_eq!(s1, 201);
    // Same JSON, other key order: a replay.
    let reordered =
        json!({"items": [{"quantity": 1, "product_id": product}], "customer_id": customer});
    let (s2, second) = app.post_order(2, &reordered, Some("retry-1")).await;
    assert_eq!(s2, 201);
    assert_eq!(first, second);
    assert_eq!(orders_of(&app, 2), before + 1);
    assert_eq!(stock_of(&app, product), 99);

    // Same key, other body: 422.
    let other = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 2}]});
    let (s3, body3) = app.post_order(2, &other, Some("retry-1")).await;
    assert_eq!(s3, 422);
    assert_eq!(body3["error"], "idempotency_key_reused");

    // Keys are per tenant: tenant 1 may use the same key.
    let p1 = product_ids(&mut db, 1)[0];
    let c1 = customer_ids(&mut db, 1)[0];
    set_stock(&app, p1, 5);
    let (s4, _) = app
        .post_order(
            1,
            &json!({"customer_id": c1, "items": [{"product_id": p1, "quantity": 1}]}),
            Some("retry-1"),
        )
        .await;
    assert_eq!(s4, 201);

    // A 409 is replayed too, even after stock returns.
    set_stock(&app, product, 0);
    let (s5, first409) = app.post_order(2, &body, Some("retry-2")).await;
    assert_eq!(s5, 409);
    set_stock(&app, product, 50);
    let (s6, again) = app.post_order(2, &body, Some("retry-2")).await;
    assert_eq!((s6, again), (409, first409));
    assert_eq!(stock_of(&app, product), 50);
}

#[actix_web::test]
async fn a_retry_while_the_first_request_is_in_flight_is_a_conflict() {
    let app = spawn_app().await;
    let mut db = app.db();
    let product = product_ids(&mut db, 2)[2];
    let customer = customer_ids(&mut db, 2)[2];
    set_stock(&app, product, 100);
    let body = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]});
    let (s1, _) = app.post_order(2, &body, Some("flight")).await;
    assert_eq!(s1, 201);
    // Put the key back in its in-flight state, as a first request still running leaves it.
    diesel::sql_query(
        "UPDATE idempotency_keys SET status = NULL, body = NULL WHERE key = 'flight'",
    )
    .execute(&mut db)
    .unwrap();
    let (s2, resp) = app.post_order(2, &body, Some("flight")).await;
    assert_eq!(s2, 409);
    assert_eq!(resp["error"], "idempotency_in_flight");
}

#[actix_web::test]
async fn export_streams_every_order_of_the_tenant_as_csv() {
    let app = spawn_app().await;
    let resp = app.get("/api/export.csv", Some(&key(3))).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = resp.text().await.unwrap();
    let mut lines = text.split('\n');
    assert_eq!(
        lines.next(),
        Some("id,customer_id,status,total_cents,created_at")
    );
    assert!(!text.contains('\r'));
    let rows: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len() as i64, orders_of(&app, 3));
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert!(text.ends_with('\n'));
}

#[derive(QueryableByName)]
struct Today {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    revenue: i64,
}

#[actix_web::test]
async fn dashboard_reports_today_and_top_products_of_the_tenant() {
    let app = spawn_app().await;
    let mut db = app.db();
    // Make sure today has an order of each kind.
    let product = product_ids(&mut db, 4)[0];
    let customer = customer_ids(&mut db, 4)[0];
    set_stock(&app, product, 100);
    let (s, _) = app
        .post_order(
            4,
            &json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 3}]}),
            None,
        )
        .await;
    assert_eq!(s, 201);
    let today: Today = diesel::sql_query(
        "SELECT COUNT(*)::int8 AS n, COALESCE(SUM(total_cents) FILTER (WHERE status <> 'cancelled'), 0)::int8 AS revenue
           FROM orders WHERE tenant_id = 4 AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    )
    .get_result(&mut db)
    .unwrap();
    let (status, body) = app.get_json("/api/dashboard", 4).await;
    assert_eq!(status, 200);
    assert_eq!(body["tenant_id"], 4);
    assert_eq!(body["plan"], "enterprise");
    assert_eq!(body["orders_today"], today.n);
    assert_eq!(body["revenue_today_cents"], today.revenue);
    let top = body["top_products"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    let units: Vec<i64> = top
        .iter()
        .map(|p| p["units_sold"].as_i64().unwrap())
        .collect();
    assert!(units.windows(2).all(|w| w[0] >= w[1]));
    let mine: HashSet<i64> = product_ids(&mut db, 4).into_iter().collect();
    assert!(top
        .iter()
        .all(|p| mine.contains(&p["product_id"].as_i64().unwrap()) && p["name"].is_string()));
}

#[actix_web::test]
async fn the_memoized_total_counts_an_order_as_soon_as_it_is_created() {
    let app = spawn_app().await;
    let mut db = app.db();
    let product = product_ids(&mut db, 2)[4];
    let customer = customer_ids(&mut db, 2)[4];
    set_stock(&app, product, 10);
    let (_, all) = app.get_json("/api/orders?per_page=5", 2).await;
    let (_, pending) = app
        .get_json("/api/orders?per_page=5&status=pending", 2)
        .await;
    // A second read is served from the memo: the page and its items only.
    let resp = app.get("/api/orders?per_page=5", Some(&key(2))).await;
    assert_eq!(statements(&resp), 2);
    let (status, _) = app
        .post_order(
            2,
            &json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]}),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let (_, all_after) = app.get_json("/api/orders?per_page=5", 2).await;
    let (_, pending_after) = app
        .get_json("/api/orders?per_page=5&status=pending", 2)
        .await;
    assert_eq!(all_after["total"], all["total"].as_i64().unwrap() + 1);
    assert_eq!(
        pending_after["total"],
        pending["total"].as_i64().unwrap() + 1
    );
    assert_eq!(all_after["total"], orders_of(&app, 2));
}
