//! Operations endpoints the kit serves for every application: liveness (on every
//! listener), readiness (with the other operations endpoints: on the operations
//! listener when there is one), and the JSON 404 of unknown routes.

use crate::drain::Drain;
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
/// `Data<Services>` and `Data<Drain>` (the operations listener's app has no other state).
pub fn configure_operations(cfg: &mut web::ServiceConfig, services: &Services, drain: &Drain) {
    cfg.service(
        web::resource("/ready")
            .app_data(web::Data::new(services.clone()))
            .app_data(web::Data::new(drain.clone()))
            .get(ready),
    );
}

/// Touches nothing: the process is up.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// "Send this process traffic": 200 when the database answers through the pool and
/// the process is not draining; 503 `draining` from SIGTERM on, `unavailable` while the
/// database does not answer. Redis is reported, never a 503: brisk serves without it,
/// and a load balancer probing every process must not drop them all when Redis blinks.
pub async fn ready(services: web::Data<Services>, drain: web::Data<Drain>) -> HttpResponse {
    let db = tokio::time::timeout(READY_DB_TIMEOUT, services.db.ping());
    // With the memory store nothing depends on Redis: it is not checked.
    let redis = async { services.store == Store::Memory || services.redis.ping().await };
    let (db_ok, redis_ok) = futures_util::join!(db, redis);
    let db_ok = matches!(db_ok, Ok(Ok(_)));
    let word = |ok: bool| if ok { "ok" } else { "error" };
    let status = if drain.is_draining() {
        "draining"
    } else if !db_ok {
        "unavailable"
    } else {
        "ready"
    };
    let body = json!({"status": status, "db": word(db_ok), "redis": word(redis_ok)});
    match status {
        "ready" => HttpResponse::Ok().json(body),
        _ => HttpResponse::ServiceUnavailable().json(body),
    }
}

/// The fallback for unknown routes.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("no such route"))
}
