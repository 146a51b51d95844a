//! `GET /api/catalog`: every product of the tenant, cached per tenant, with the
//! stored strong ETag (a matching `If-None-Match` is a 304 without reading the body).

use crate::http::conditional::{if_none_match_header, respond_cached};
use crate::http::extract::auth::Caller;
use crate::state::AppState;
use crate::warm::recipes;
use actix_web::{web, HttpRequest, HttpResponse};

pub const CACHE_CONTROL: &str = "private, max-age=60";

pub async fn catalog(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    req: HttpRequest,
) -> Result<HttpResponse, crate::error::ApiError> {
    let inm = if_none_match_header(&req);
    let cached =
        recipes::catalog(&state.cache, &state.db, caller.tenant_id, inm.as_deref()).await?;
    Ok(respond_cached(
        &req,
        &state.variants,
        cached,
        Some(CACHE_CONTROL),
    ))
}
