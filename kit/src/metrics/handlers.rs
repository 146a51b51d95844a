//! The measurement endpoints: `/metrics` (Prometheus text), `/dashboard` (the live page,
//! its script and styles compiled into the binary) and `/dashboard/data.json` (what the
//! page draws). None of them touches the database or Redis.

use super::events::Metrics;
use super::prometheus::CONTENT_TYPE;
use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::{web, HttpResponse};

const DASHBOARD_HTML: &str = include_str!("assets/dashboard.html");
const DASHBOARD_JS: &str = include_str!("assets/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("assets/dashboard.css");

/// Registers `/metrics`, `/dashboard`, `/dashboard/data.json`, `/dashboard/app.js` and
/// `/dashboard/style.css`, each carrying its own `Data<Metrics>` so the caller's app
/// state needs nothing added. Use as `App::new().configure(metrics::endpoints(m.clone()))`.
pub fn endpoints(metrics: Metrics) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let data = web::Data::new(metrics);
        cfg.service(
            web::resource("/metrics")
                .app_data(data.clone())
                .route(web::get().to(prometheus_text)),
        )
        .service(web::resource("/dashboard").route(web::get().to(dashboard_page)))
        .service(
            web::resource("/dashboard/data.json")
                .app_data(data)
                .route(web::get().to(dashboard_data)),
        )
        .service(web::resource("/dashboard/app.js").route(web::get().to(dashboard_js)))
        .service(web::resource("/dashboard/style.css").route(web::get().to(dashboard_css)));
    }
}

fn no_store() -> CacheControl {
    CacheControl(vec![CacheDirective::NoStore])
}

/// `GET /metrics`.
pub async fn prometheus_text(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .insert_header(no_store())
        .body(metrics.render_prometheus())
}

/// `GET /dashboard/data.json`.
pub async fn dashboard_data(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(no_store())
        .json(metrics.dashboard())
}

/// `GET /dashboard`.
pub async fn dashboard_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(DASHBOARD_HTML)
}

async fn dashboard_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(DASHBOARD_JS)
}

async fn dashboard_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(DASHBOARD_CSS)
}
