//! `GET /api/search?q=&limit=`.

use crate::error::ApiError;
use crate::http::conditional::{if_none_match_header, respond_cached};
use crate::http::extract::auth::Caller;
use crate::http::extract::query::QueryParams;
use crate::state::AppState;
use crate::warm::recipes;
use actix_web::{web, HttpRequest, HttpResponse};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;
/// Cached per (tenant, q, limit); clients revalidate with the ETag.
pub const CACHE_CONTROL: &str = "private, no-cache";

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
    let inm = if_none_match_header(&req);
    let cached = recipes::search(
        &state.cache,
        &state.db,
        caller.tenant_id,
        q,
        limit,
        inm.as_deref(),
    )
    .await?;
    Ok(respond_cached(
        &req,
        &state.variants,
        cached,
        Some(CACHE_CONTROL),
    ))
}
