//! `GET /api/catalog`: every product of the tenant, with a strong ETag.

use crate::app;
use crate::http::conditional::{etag_for, respond_json};
use crate::http::extract::auth::Caller;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

pub const CACHE_CONTROL: &str = "private, max-age=60";

pub async fn catalog(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    req: HttpRequest,
) -> Result<HttpResponse, crate::error::ApiError> {
    let body = app::views::catalog_json(&state.db, caller.tenant_id).await?;
    let etag = etag_for(&body);
    Ok(respond_json(&req, body, &etag, CACHE_CONTROL))
}
