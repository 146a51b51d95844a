//! `GET /api/catalog`: every product of the tenant, cached per tenant, with the
//! stored strong ETag (a matching `If-None-Match` is a 304 without reading the body).

use crate::app::OrderApp;
use crate::http::conditional::{if_none_match_header, respond_cached};
use crate::http::error::ApiError;
use crate::http::extract::auth::Caller;
use crate::http::precompressed::Precompressed;
use actix_web::{web, HttpRequest, HttpResponse};

/// Browsers may reuse a catalog for a minute.
pub const CACHE_CONTROL: &str = "private, max-age=60";

/// The handler.
pub async fn catalog(
    app: web::Data<OrderApp>,
    variants: web::Data<Precompressed>,
    Caller(caller): Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let inm = if_none_match_header(&req);
    let cached = app.reads.catalog(caller.tenant_id, inm.as_deref()).await?;
    Ok(respond_cached(&req, &variants, cached, Some(CACHE_CONTROL)))
}
