//! `GET /api/catalog`: every product of the tenant, cached per tenant, with the
//! stored strong ETag (a matching `If-None-Match` is a 304 without reading the body).

use crate::app::views::Catalog;
use crate::app::OrderApp;
use actix_web::{web, HttpRequest, HttpResponse};
use brisk_kit::http::conditional::{if_none_match_header, respond_cached};
use brisk_kit::http::error::ApiError;
use brisk_kit::http::extract::auth::Caller;
use brisk_kit::http::precompressed::Precompressed;

/// Browsers may reuse a catalog for a minute.
pub const CACHE_CONTROL: &str = "private, max-age=60";

/// Every product of the tenant.
///
/// Ordered by id; cached per tenant (60 s ± 10 %). Revalidate with the strong
/// `ETag`: a matching `If-None-Match` answers 304 without a body.
#[utoipa::path(
    get,
    path = "/api/catalog",
    tag = "products",
    params(
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` of an earlier answer: 304 when it still matches"),
    ),
    responses(
        (status = 200, description = "The catalog", body = Catalog,
            headers(
                ("ETag" = String, description = "Strong, quoted entity tag of the body"),
                ("Cache-Control" = String, description = "`private, max-age=60`"),
                ("X-Cache" = String, description = "Cache outcome: hit, stale, miss, coalesced or error"),
            )),
        (status = 304, description = "`If-None-Match` matched: no body",
            headers(
                ("ETag" = String, description = "The matching entity tag"),
                ("Cache-Control" = String, description = "`private, max-age=60`"),
            )),
    )
)]
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
