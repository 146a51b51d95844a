//! Catalog, product pages, one product, summary, updates, search.

use crate::helpers::*;
use diesel::RunQueryDsl;
use serde_json::{json, Value};

#[actix_web::test]
async fn catalog_lists_every_product_of_the_tenant_with_validators() {
    let app = spawn_app().await;
    let ids = product_ids(&mut app.db(), 2);
    let resp = app.get("/api/catalog", Some(&key(2))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "private, max-age=60");
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["tenant_id"], 2);
    let got: Vec<i64> = body["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids);
    let first = &body["products"][0];
    for field in ["id", "sku", "name", "price_cents", "stock"] {
        assert!(!first[field].is_null(), "{field}");
    }

    let resp = app
        .client
        .get(app.url("/api/catalog"))
        .bearer_auth(key(2))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), etag);
    assert!(resp.bytes().await.unwrap().is_empty());

    // Another tenant sees its own products only.
    let (_, other) = app.get_json("/api/catalog", 3).await;
    let other_ids: Vec<i64> = other["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert!(other_ids.iter().all(|id| !ids.contains(id)));
}

#[actix_web::test]
async fn product_pages_are_ordered_clamped_and_validated() {
    let app = spawn_app().await;
    let ids = product_ids(&mut app.db(), 1);
    let (status, body) = app.get_json("/api/products?page=2&per_page=7", 1).await;
    assert_eq!(status, 200);
    assert_eq!(body["page"], 2);
    assert_eq!(body["per_page"], 7);
    assert_eq!(body["total"], ids.len() as i64);
    assert_eq!(body["pages"], (ids.len() as i64 + 6) / 7);
    let got: Vec<i64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids[7..14].to_vec());

    let (_, body) = app.get_json("/api/products?per_page=1000", 1).await;
    assert_eq!(body["per_page"], 100);
    let (_, body) = app.get_json("/api/products", 1).await;
    assert_eq!(body["per_page"], 50);

    for (query, field) in [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("per_page=abc", "per_page"),
        ("page=1.5", "page"),
    ] {
        let (status, body) = app.get_json(&format!("/api/products?{query}"), 1).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"], "bad_request");
        assert!(
            body["detail"].as_str().unwrap().contains(field),
            "{query}: {body}"
        );
    }
}

#[actix_web::test]
async fn one_product_is_shown_to_its_tenant_only() {
    let app = spawn_app().await;
    let id = product_ids(&mut app.db(), 1)[0];
    let (status, body) = app.get_json(&format!("/api/products/{id}"), 1).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], id);
    let ts = body["updated_at"].as_str().unwrap();
    assert!(
        ts.ends_with('Z') && ts.len() == "2026-03-04T05:06:07.123456Z".len(),
        "{ts}"
    );
    for path in [
        format!("/api/products/{id}"),
        format!("/api/products/{id}/summary"),
    ] {
        let (status, body) = app.get_json(&path, 2).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"], "not_found");
    }
    assert_eq!(app.get_json("/api/products/abc", 1).await.0, 404);
    assert_eq!(app.get_json("/api/products/999999999", 1).await.0, 404);
}

#[derive(diesel::QueryableByName, Debug)]
struct Expected {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    units: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    revenue: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    orders: i64,
}

#[actix_web::test]
async fn summary_aggregates_non_cancelled_orders() {
    let app = spawn_app().await;
    let mut db = app.db();
    let id = product_ids(&mut db, 2)[3];
    let expected: Expected = diesel::sql_query(format!(
        "SELECT COALESCE(SUM(i.quantity),0)::int8 AS units, COALESCE(SUM(i.quantity * i.unit_price_cents),0)::int8 AS revenue,
                COUNT(DISTINCT o.id)::int8 AS orders
           FROM order_items i JOIN orders o ON o.id = i.order_id
          WHERE i.product_id = {id} AND o.status != 'cancelled'"
    ))
    .get_result(&mut db)
    .unwrap();
    let (status, body) = app
        .get_json(&format!("/api/products/{id}/summary"), 2)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["product_id"], id);
    assert_eq!(body["units_sold"], expected.units);
    assert_eq!(body["revenue_cents"], expected.revenue);
    assert_eq!(body["order_count"], expected.orders);
    assert!(body["last_ordered_at"].is_string());

    // A product never ordered: zeros and a null date.
    diesel::sql_query("INSERT INTO products (tenant_id, sku, name, price_cents, stock) VALUES (2, 'NEW-1', 'Fresh Thing', 100, 5)")
        .execute(&mut db)
        .unwrap();
    let fresh = *product_ids(&mut db, 2).last().unwrap();
    let (_, body) = app
        .get_json(&format!("/api/products/{fresh}/summary"), 2)
        .await;
    assert_eq!(
        body,
        json!({"product_id": fresh, "units_sold": 0, "revenue_cents": 0, "order_count": 0, "last_ordered_at": null})
    );
}

#[actix_web::test]
async fn product_updates_validate_every_field_and_show_in_the_catalog() {
    let app = spawn_app().await;
    let id = product_ids(&mut app.db(), 1)[0];
    let (status, body) = app
        .put_product(
            1,
            id,
            &json!({"price_cents": 12345, "name": "Renamed Thing"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["price_cents"], 12345);
    assert_eq!(body["name"], "Renamed Thing");
    let (_, catalog) = app.get_json("/api/catalog", 1).await;
    let shown = catalog["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(shown["price_cents"], 12345);

    for (body, field) in [
        (json!({}), "body"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"price_cents": -1}), "price_cents"),
        (json!({"price_cents": "12"}), "price_cents"),
        (json!({"stock": -5}), "stock"),
        (json!({"stock": 1.5}), "stock"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let (status, resp) = app.put_product(1, id, &body).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            resp["detail"].as_str().unwrap().contains(field),
            "{body} → {resp}"
        );
    }
    let resp = app
        .client
        .put(app.url(&format!("/api/products/{id}")))
        .bearer_auth(key(1))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Another tenant's product: 404, and it is unchanged.
    let (_, before) = app.get_json(&format!("/api/products/{id}"), 1).await;
    let (status, _) = app
        .put_product(2, id, &json!({"stock": 0, "price_cents": 1}))
        .await;
    assert_eq!(status, 404);
    let (_, after) = app.get_json(&format!("/api/products/{id}"), 1).await;
    assert_eq!(after, before);
}

#[actix_web::test]
async fn search_matches_name_or_sku_case_insensitively_with_literal_wildcards() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/api/search?q=SKU-00001&limit=5", 1).await;
    assert_eq!(status, 200);
    assert_eq!(body["q"], "SKU-00001");
    assert_eq!(body["limit"], 5);
    let items = body["items"].as_array().unwrap();
    assert!(!items.is_empty() && items.len() <= 5);
    assert!(items
        .iter()
        .all(|p| p["sku"].as_str().unwrap().contains("SKU-00001")));
    let ids: Vec<i64> = items.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);

    // A word of a product name, lower-cased, finds it.
    let (_, catalog) = app.get_json("/api/catalog", 1).await;
    let name = catalog["products"][0]["name"].as_str().unwrap().to_string();
    let word = name.split(' ').next().unwrap().to_lowercase();
    let (_, body) = app.get_json(&format!("/api/search?q={word}"), 1).await;
    assert!(body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == name.as_str()));
    assert_eq!(body["limit"], 20);

    // % and _ are literal: nothing in the data set contains them.
    for q in ["%25", "_", "%25%25"] {
        let (status, body) = app.get_json(&format!("/api/search?q={q}"), 1).await;
        assert_eq!(status, 200);
        assert_eq!(body["items"].as_array().unwrap().len(), 0, "{q}");
    }
    let (_, body) = app.get_json("/api/search?q=a&limit=1000", 1).await;
    assert_eq!(body["limit"], 100);

    for query in ["", "q=", &format!("q={}", "a".repeat(101)), "q=a&limit=0"] {
        let (status, body) = app.get_json(&format!("/api/search?{query}"), 1).await;
        assert_eq!(status, 400, "{query}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains('q') || detail.contains("limit"), "{detail}");
    }
}
