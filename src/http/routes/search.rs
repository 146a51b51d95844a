//! `GET /api/search?q=&limit=`.

use crate::app::OrderApp;
use crate::http::conditional::{if_none_match_header, respond_cached};
use crate::http::error::ApiError;
use crate::http::extract::auth::Caller;
use crate::http::extract::query::QueryParams;
use crate::http::precompressed::Precompressed;
use actix_web::{web, HttpRequest, HttpResponse};

/// `limit` when none is given.
pub const DEFAULT_LIMIT: i64 = 20;
/// Larger limits are clamped to this.
pub const MAX_LIMIT: i64 = 100;
/// Cached per (tenant, q, limit); clients revalidate with the ETag.
pub const CACHE_CONTROL: &str = "private, no-cache";

/// The handler.
pub async fn search(
    app: web::Data<OrderApp>,
    variants: web::Data<Precompressed>,
    Caller(caller): Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse(req.query_string())?;
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
    let cached = app
        .reads
        .search(caller.tenant_id, q, limit, inm.as_deref())
        .await?;
    Ok(respond_cached(&req, &variants, cached, Some(CACHE_CONTROL)))
}
