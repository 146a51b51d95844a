//! Operations endpoints the kit serves for every application: liveness (on every
//! listener), readiness (with the other operations endpoints: on the operations
//! listener when there is one), and the JSON 404 of unknown routes.

use crate::http::error::ApiError;
use crate::services::{Services, Store};
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::time::Duration;

/// How long `/ready` waits for the database.
const READY_DB_TIMEOUT: Duration = Duration::from_secs(2);

/// `/health`, served on every listener.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").get(health));
}

/// `/ready`, served with the operations endpoints, carrying its own
/// `Data<Services>` (the operations listener's app has no other state).
pub fn configure_operations(cfg: &mut web::ServiceConfig, services: &Services) {
    cfg.service(
        web::resource("/ready")
            .app_data(web::Data::new(services.clone()))
            .get(ready),
    );
}

/// Touches nothing: the process is up.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Checks the database through the pool and Redis; 503 naming what failed.
pub async fn ready(services: web::Data<Services>) -> HttpResponse {
    let db = tokio::time::timeout(READY_DB_TIMEOUT, services.db.ping());
    // With the memory store nothing depends on Redis: it is not checked.
    let redis = async { services.store == Store::Memory || services.redis.ping().await };
    let (db_ok, redis_ok) = futures_util::join!(db, redis);
    let db_ok = matches!(db_ok, Ok(Ok(_)));
    let word = |ok: bool| if ok { "ok" } else { "error" };
    if db_ok && redis_ok {
        HttpResponse::Ok().json(json!({"status": "ready", "db": "ok", "redis": "ok"}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "status": "degraded", "db": word(db_ok), "redis": word(redis_ok)
        }))
    }
}

/// The fallback for unknown routes.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("no such route"))
}
