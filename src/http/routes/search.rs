//! `GET /api/search?q=&limit=`.

use crate::app;
use crate::error::ApiError;
use crate::http::extract::auth::Caller;
use crate::http::extract::query::QueryParams;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

pub async fn search(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse(req.query_string());
    let q = params.get("q").unwrap_or("");
    let len = q.chars().count();
    if !(1..=100).contains(&len) {
        return Err(ApiError::bad_request(
            "q",
            format!("q must be 1 to 100 characters, got {len}"),
        ));
    }
    let limit = params.clamped("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let body = app::views::search_json(&state.db, caller.tenant_id, q, limit).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}
