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
    // `resource` (not `route`) so a known path with another method answers 405.
    cfg.service(web::resource("/health").get(health::health))
        .service(web::resource("/ready").get(health::ready))
        .service(web::resource("/api/login").post(login::login))
        .service(web::resource("/api/catalog").get(catalog::catalog))
        .service(web::resource("/api/products").get(products::list))
        .service(
            web::resource("/api/products/{id}")
                .get(products::show)
                .put(products::update),
        )
        .service(web::resource("/api/products/{id}/summary").get(products::summary))
        .service(
            web::resource("/api/orders")
                .get(orders::list)
                .post(orders::create),
        )
        .service(web::resource("/api/orders/{id}").get(orders::show))
        .service(web::resource("/api/search").get(search::search))
        .service(web::resource("/api/export.csv").get(export::export_csv))
        .service(web::resource("/api/dashboard").get(dashboard::dashboard));
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
