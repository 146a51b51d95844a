//! Liveness and readiness.

use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::time::Duration;

/// Touches nothing: the process is up.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Checks the database through the pool and Redis; 503 naming what failed.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let db = async { state.db.ping().await.is_ok() };
    let db = tokio::time::timeout(Duration::from_secs(2), db);
    // With `--store memory` nothing depends on Redis: it is not checked.
    let redis = async {
        state.settings.redis.store == crate::config::StoreKind::Memory || state.redis.ping().await
    };
    let (db_ok, redis_ok) = futures_util::join!(db, redis);
    let db_ok = matches!(db_ok, Ok(true));
    let word = |ok: bool| if ok { "ok" } else { "error" };
    if db_ok && redis_ok {
        HttpResponse::Ok().json(json!({"status": "ready", "db": "ok", "redis": "ok"}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "status": "degraded", "db": word(db_ok), "redis": word(redis_ok)
        }))
    }
}
