//! `GET /api/search?q=&limit=`.

use crate::app::views::SearchResult;
use crate::app::OrderApp;
use actix_web::{web, HttpRequest, HttpResponse};
use brisk_kit::http::conditional::{if_none_match_header, respond_cached};
use brisk_kit::http::docs::ErrorBody;
use brisk_kit::http::error::ApiError;
use brisk_kit::http::extract::auth::Caller;
use brisk_kit::http::extract::query::QueryParams;
use brisk_kit::http::precompressed::Precompressed;

/// `limit` when none is given.
pub const DEFAULT_LIMIT: i64 = 20;
/// Larger limits are clamped to this.
pub const MAX_LIMIT: i64 = 100;
/// Cached per (tenant, q, limit); clients revalidate with the ETag.
pub const CACHE_CONTROL: &str = "private, no-cache";

/// Products whose name or sku contains `q`.
///
/// Case-insensitive; `%` and `_` match themselves. Ordered by id. Cached per
/// (tenant, normalized query string) for 60 s; revalidate with the `ETag`.
#[utoipa::path(
    get,
    path = "/api/search",
    tag = "products",
    params(
        ("q" = String, Query, min_length = 1, max_length = 100, description = "The text to find (1 to 100 characters)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1_000_000, description = "At most this many items (default 20, clamped to 100)"),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` of an earlier answer: 304 when it still matches"),
    ),
    responses(
        (status = 200, description = "The matches", body = SearchResult,
            headers(
                ("ETag" = String, description = "Strong, quoted entity tag of the body"),
                ("Cache-Control" = String, description = "`private, no-cache`"),
                ("X-Cache" = String, description = "Cache outcome: hit, stale, miss, coalesced or error"),
            )),
        (status = 304, description = "`If-None-Match` matched: no body",
            headers(("ETag" = String, description = "The matching entity tag"))),
        (status = 400, description = "`q` or `limit` is invalid (named in `detail`)", body = ErrorBody),
    )
)]
pub async fn search(
    app: web::Data<OrderApp>,
    variants: web::Data<Precompressed>,
    Caller(caller): Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (q, limit) = search_params(req.query_string())?;
    let inm = if_none_match_header(&req);
    let cached = app
        .reads
        .search(caller.tenant_id, &q, limit, inm.as_deref())
        .await?;
    Ok(respond_cached(&req, &variants, cached, Some(CACHE_CONTROL)))
}

/// `q` (1 to 100 characters) and `limit` (clamped) from a search's query string: the
/// handler's validation, and the key the route's cache read is declared with.
pub fn search_params(query: &str) -> Result<(String, i64), ApiError> {
    let params = QueryParams::parse(query)?;
    let q = params.get("q").unwrap_or("");
    let len = q.chars().count();
    if !(1..=100).contains(&len) {
        return Err(ApiError::bad_request(
            "q",
            format!("q must be 1 to 100 characters, got {len}"),
        ));
    }
    let limit = params.clamped("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    Ok((q.to_string(), limit))
}
