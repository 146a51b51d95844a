//! The catalog built from per-product fragments (src/app/catalog.rs): after a write,
//! a rebuild reads and serializes only the changed products, its body is byte for byte
//! the one serializing every row gives, and a change committed by any writer (another
//! process, plain SQL that leaves `updated_at` alone) is in the next rebuild.

use crate::helpers::{key, product_ids, spawn_app_on, spawn_app_with, TestApp};
use brisk::app::catalog::{CatalogFragments, RebuildStats};
use brisk::app::views;
use diesel::RunQueryDsl;
use serde_json::{json, Value};

/// Rate limits off (the limiter has its own tests); a patient Redis on a loaded machine.
fn quiet(args: &mut brisk::config::ServeArgs) {
    args.redis.redis_timeout_ms = 2_000;
    args.ratelimit.rate_limit_disabled = true;
}

async fn catalog_bytes(app: &TestApp, tenant: i64) -> Vec<u8> {
    let resp = app.get("/api/catalog", Some(&key(tenant))).await;
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap().to_vec()
}

/// Every row of the tenant read and serialized, as before fragments.
async fn reference(app: &TestApp, tenant: i64) -> Vec<u8> {
    views::catalog_json(&app.state.db, tenant)
        .await
        .unwrap()
        .to_vec()
}

fn product_in(body: &[u8], id: i64) -> Value {
    let catalog: Value = serde_json::from_slice(body).unwrap();
    catalog["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("product {id} not in the catalog"))
}

#[actix_web::test]
async fn the_catalog_after_a_put_is_byte_identical_to_every_row_serialized() {
    let app = spawn_app_with(quiet).await;
    let id = product_ids(&mut app.db(), 1)[3];
    assert_eq!(catalog_bytes(&app, 1).await, reference(&app, 1).await);
    // Characters JSON escapes, so a fragment's escaping is checked too.
    let name = "Zébra \"lamp\" \\ <b>\u{1F600}";
    let (status, _) = app
        .put_product(
            1,
            id,
            &json!({"name": name, "price_cents": 4242, "stock": 7}),
        )
        .await;
    assert_eq!(status, 200);
    let body = catalog_bytes(&app, 1).await;
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(&reference(&app, 1).await)
    );
    let p = product_in(&body, id);
    assert_eq!(
        (p["name"].as_str(), p["price_cents"].as_i64()),
        (Some(name), Some(4242))
    );
    assert_eq!(catalog_bytes(&app, 2).await, reference(&app, 2).await);
}

#[actix_web::test]
async fn a_rebuild_after_one_put_serializes_only_that_product_and_never_another_tenants() {
    let app = spawn_app_with(quiet).await;
    let db = &app.state.db;
    let fragments = CatalogFragments::default();
    let ids = product_ids(&mut app.db(), 1);
    let n = ids.len();
    let (_, cold) = fragments.rebuild(db, 1).await.unwrap();
    assert_eq!(
        cold,
        RebuildStats {
            products: n,
            serialized: n
        }
    );
    let (body, unchanged) = fragments.rebuild(db, 1).await.unwrap();
    assert_eq!(
        unchanged,
        RebuildStats {
            products: n,
            serialized: 0
        }
    );
    assert_eq!(body.to_vec(), reference(&app, 1).await);

    let (status, _) = app
        .put_product(1, ids[5], &json!({"price_cents": 1234}))
        .await;
    assert_eq!(status, 200);
    let (body, after_put) = fragments.rebuild(db, 1).await.unwrap();
    assert_eq!(
        after_put,
        RebuildStats {
            products: n,
            serialized: 1
        }
    );
    assert_eq!(body.to_vec(), reference(&app, 1).await);
    assert_eq!(product_in(&body, ids[5])["price_cents"], 1234);

    // Tenant 2's catalog reuses nothing of tenant 1's and holds none of its products.
    let tenant_two = product_ids(&mut app.db(), 2);
    let (body, other) = fragments.rebuild(db, 2).await.unwrap();
    assert_eq!(
        other,
        RebuildStats {
            products: tenant_two.len(),
            serialized: tenant_two.len()
        }
    );
    let catalog: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(catalog["tenant_id"], 2);
    assert!(catalog["products"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| tenant_two.contains(&p["id"].as_i64().unwrap())));
}

#[actix_web::test]
async fn a_change_by_another_process_or_plain_sql_is_in_the_next_catalog_read_here() {
    let one = spawn_app_with(quiet).await;
    let prefix = one.redis_prefix.clone();
    let two = spawn_app_on(&one.db_name, |args| {
        quiet(args);
        args.redis.redis_prefix = prefix;
    })
    .await;
    let ids = product_ids(&mut one.db(), 1);
    // Process two has serialized every product of tenant 1.
    catalog_bytes(&two, 1).await;

    let (status, _) = one.put_product(1, ids[0], &json!({"stock": 4321})).await;
    assert_eq!(status, 200);
    let body = catalog_bytes(&two, 1).await;
    assert_eq!(product_in(&body, ids[0])["stock"], 4321);

    // A writer that keeps `updated_at` as it was and invalidates nothing: the row's
    // version still changes, so the next rebuild (after process one's PUT) shows it.
    diesel::sql_query(
        "UPDATE products SET name = 'Renamed Quietly', updated_at = updated_at WHERE id = $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(ids[1])
    .execute(&mut one.db())
    .unwrap();
    let (status, _) = one.put_product(1, ids[2], &json!({"stock": 11})).await;
    assert_eq!(status, 200);
    let body = catalog_bytes(&two, 1).await;
    assert_eq!(product_in(&body, ids[1])["name"], "Renamed Quietly");
    assert_eq!(product_in(&body, ids[2])["stock"], 11);
    assert_eq!(body, reference(&two, 1).await);
}
