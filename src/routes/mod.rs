//! The order application's handlers, one file per resource: extract, call one use
//! case, map its answer. [`handlers`] is the handler set over the use cases;
//! `order_api::mount` wraps it, with the protected routes and the OpenAPI document,
//! into the `Mount` that `main` hands the kit.

pub mod catalog;
pub mod cursor;
pub mod dashboard;
pub mod errors;
pub mod export;
pub mod login;
pub mod openapi;
pub mod orders;
pub mod path;
pub mod prefetch;
pub mod products;
pub mod search;

use crate::app::OrderApp;
use actix_web::web;

pub use cursor::CursorKey;

/// Every `/api` route of API.md. The application's state (`OrderApp`, the cursor
/// key) is registered by the caller as `web::Data`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // `resource` (not `route`) so a known path with another method answers 405.
    cfg.service(web::resource("/api/login").post(login::login))
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

/// The handler set over `app`, with the application's state registered as
/// `web::Data` for the handlers.
pub fn handlers(
    app: OrderApp,
    cursor_key: CursorKey,
) -> impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static {
    let app = web::Data::new(app);
    let key = web::Data::new(cursor_key);
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(app.clone()).app_data(key.clone());
        configure(cfg);
    }
}
