//! One file per resource; handlers extract, call, map.

pub mod catalog;
pub mod dashboard;
pub mod export;
pub mod health;
pub mod login;
pub mod orders;
pub mod products;
pub mod search;

use crate::error::ApiError;
use actix_web::web;

/// Every route of API.md.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health::health))
        .route("/ready", web::get().to(health::ready))
        .route("/api/login", web::post().to(login::login))
        .route("/api/catalog", web::get().to(catalog::catalog))
        .route("/api/products", web::get().to(products::list))
        .service(
            web::resource("/api/products/{id}")
                .route(web::get().to(products::show))
                .route(web::put().to(products::update)),
        )
        .route("/api/products/{id}/summary", web::get().to(products::summary))
        .service(
            web::resource("/api/orders")
                .route(web::get().to(orders::list))
                .route(web::post().to(orders::create)),
        )
        .route("/api/orders/{id}", web::get().to(orders::show))
        .route("/api/search", web::get().to(search::search))
        .route("/api/export.csv", web::get().to(export::export_csv))
        .route("/api/dashboard", web::get().to(dashboard::dashboard));
}

/// Path ids: anything that is not a positive integer names no resource.
pub fn path_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(format!("no {what} with id {raw:?}")))
}

/// The fallback for unknown routes.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("no such route"))
}
