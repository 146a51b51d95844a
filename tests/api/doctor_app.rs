//! A broken deployment the order API cannot be: a small application on the kit whose
//! list route loads each row's relation with a statement of its own (N+1), and
//! `brisk doctor` pointed at it. It reads the seeded tables; its page size is clamped
//! and documented in its own OpenAPI document; its login route is limited per client
//! address (the test settings' login limit), like a sound application's. The doctor
//! must fail "eager loading" and nothing else.

use crate::doctor::{doctor_with, failed, set};
use crate::helpers::*;
use actix_web::{web, HttpResponse};
use brisk::db::schema::{order_items, orders};
use brisk_kit::diesel::{ExpressionMethods, QueryDsl};
use brisk_kit::diesel_async::RunQueryDsl;
use brisk_kit::{ApiError, DbPool, Mount, Services};
use serde_json::json;

/// The list route's page size cap.
const MAX_PER_PAGE: i64 = 20;

#[derive(serde::Deserialize)]
struct Page {
    per_page: Option<i64>,
}

/// `GET /api/items?per_page=N`: the first N orders, then each one's quantities with
/// one statement per order: 1 + N statements.
async fn items(db: web::Data<DbPool>, page: web::Query<Page>) -> Result<HttpResponse, ApiError> {
    let per_page = page.per_page.unwrap_or(10).clamp(1, MAX_PER_PAGE);
    let ids: Vec<i64> = db
        .read(move |c| {
            let query = orders::table
                .select(orders::id)
                .order(orders::id)
                .limit(per_page);
            Box::pin(async move { Ok(query.load(c).await?) })
        })
        .await
        .map_err(ApiError::internal)?;
    let mut list = Vec::with_capacity(ids.len());
    for id in ids {
        let quantities: Vec<i32> = db
            .read(move |c| {
                let query = order_items::table
                    .filter(order_items::order_id.eq(id))
                    .select(order_items::quantity);
                Box::pin(async move { Ok(query.load(c).await?) })
            })
            .await
            .map_err(ApiError::internal)?;
        list.push(json!({"order_id": id, "quantities": quantities}));
    }
    Ok(HttpResponse::Ok().json(json!({ "items": list })))
}

/// `POST /api/login`: no account exists; every attempt is refused.
async fn login() -> HttpResponse {
    HttpResponse::Unauthorized()
        .json(json!({"error": "unauthorized", "message": "no such account"}))
}

/// The application's OpenAPI document: the list route and its clamped page size.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "openapi": "3.0.3",
        "info": {"title": "items (an N+1 list on brisk's kit)", "version": "1"},
        "paths": {
            "/api/items": {"get": {
                "summary": "The first orders, each with the quantities of its items.",
                "parameters": [{
                    "name": "per_page", "in": "query", "required": false,
                    "description": format!("orders per page, default 10, clamped to {MAX_PER_PAGE}"),
                    "schema": {"type": "integer", "minimum": 1}
                }],
                "responses": {"200": {"description": "one page of orders"}}
            }},
            "/api/login": {"post": {
                "summary": "Refuses every attempt (the doctor's login probe reaches its limit).",
                "responses": {"401": {"description": "no such account"}}
            }}
        }
    }))
}

/// The application on the kit's services.
fn mount(services: &Services) -> Mount {
    let db = services.db.clone();
    Mount::new(move |cfg| {
        cfg.app_data(web::Data::new(db.clone()));
        cfg.route("/api/items", web::get().to(items));
        cfg.route("/api/login", web::post().to(login));
    })
    .operations(|cfg| {
        cfg.route("/openapi.json", web::get().to(openapi));
    })
}

#[actix_web::test]
async fn a_list_route_with_one_statement_per_row_fails_eager_loading_only() {
    let db = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    let app = spawn_mounted(&db, |_| {}, |services, _| mount(services)).await;
    for _ in 0..3 {
        assert_eq!(app.get_json("/api/items?per_page=5", 1).await.0, 200);
    }
    let (rows, ok) = doctor_with(&[&app], &app.db_name, &[]).await;
    assert_eq!(failed(&rows), set(&["eager loading"]), "{rows:#?}");
    assert!(!ok, "a ✘ row makes the exit status non-zero");
    let eager = rows.iter().find(|r| r["row"] == "eager loading").unwrap();
    assert!(
        eager["evidence"]
            .as_str()
            .unwrap_or("")
            .contains("/api/items: 6.0"),
        "1 + 5 statements per page of 5: {eager}"
    );
}
