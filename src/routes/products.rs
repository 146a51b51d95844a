//! `/api/products`: offset list, one product, its summary, and updates.

use crate::app::products::ProductUpdate;
use crate::app::views::{Product, ProductBrief, ProductSummary};
use crate::app::OrderApp;
use crate::routes::path::path_id;
use actix_web::{web, HttpRequest, HttpResponse};
use brisk_kit::http::conditional::respond_cached;
use brisk_kit::http::docs::ErrorBody;
use brisk_kit::http::error::ApiError;
use brisk_kit::http::extract::auth::Caller;
use brisk_kit::http::extract::body::parse_json;
use brisk_kit::http::extract::query::QueryParams;
use brisk_kit::http::precompressed::Precompressed;
use serde::{Deserialize, Serialize};

/// `per_page` when none is given.
pub const DEFAULT_PER_PAGE: i64 = 50;
/// Larger pages are clamped to this.
pub const MAX_PER_PAGE: i64 = 100;

/// A page of products.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProductPage<'a> {
    /// The page's products, by id.
    items: &'a [ProductBrief],
    /// This page's number (from 1).
    page: i64,
    /// The page size applied (clamped to 100).
    per_page: i64,
    /// How many pages there are.
    pages: i64,
    /// How many products there are.
    total: i64,
}

/// The tenant's products, a page at a time.
///
/// Offset pagination ordered by id.
#[utoipa::path(
    get,
    path = "/api/products",
    tag = "products",
    params(
        ("page" = Option<i64>, Query, minimum = 1, maximum = 1_000_000, description = "The page (default 1)"),
        ("per_page" = Option<i64>, Query, minimum = 1, maximum = 1_000_000, description = "Products per page (default 50, clamped to 100)"),
    ),
    responses(
        (status = 200, description = "The page (a page past the end has no items)", body = ProductPage),
        (status = 400, description = "`page` or `per_page` is not a positive integer in range (named in `detail`)", body = ErrorBody),
    )
)]
pub async fn list(
    app: web::Data<OrderApp>,
    Caller(caller): Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse(req.query_string())?;
    let page = params.positive("page", 1)?;
    let per_page = params.clamped("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
    let found = app.products.page(caller.tenant_id, page, per_page).await?;
    Ok(HttpResponse::Ok().json(ProductPage {
        items: &found.items[..],
        page,
        per_page,
        pages: (found.total + per_page - 1) / per_page,
        total: found.total,
    }))
}

/// One product.
#[utoipa::path(
    get,
    path = "/api/products/{id}",
    tag = "products",
    params(("id" = i64, Path, minimum = 1, description = "The product's id")),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 404, description = "The tenant has no such product", body = ErrorBody),
    )
)]
pub async fn show(
    app: web::Data<OrderApp>,
    Caller(caller): Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "product")?;
    let product = app.products.show(caller.tenant_id, id).await?;
    Ok(HttpResponse::Ok().json(product))
}

/// A product's sales.
///
/// Aggregated over the lines of non-cancelled orders: units, revenue, distinct
/// orders, the latest order (null when never ordered). Memoized per product for
/// 300 s, single-flight, kept warm.
#[utoipa::path(
    get,
    path = "/api/products/{id}/summary",
    tag = "products",
    params(("id" = i64, Path, minimum = 1, description = "The product's id")),
    responses(
        (status = 200, description = "The summary", body = ProductSummary,
            headers(
                ("ETag" = String, description = "Strong, quoted entity tag of the body"),
                ("X-Cache" = String, description = "Cache outcome: hit, stale, miss, coalesced or error"),
            )),
        (status = 404, description = "The tenant has no such product", body = ErrorBody),
    )
)]
pub async fn summary(
    app: web::Data<OrderApp>,
    variants: web::Data<Precompressed>,
    Caller(caller): Caller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "product")?;
    let cached = app.reads.product_summary(caller.tenant_id, id).await?;
    Ok(respond_cached(&req, &variants, cached, None))
}

/// `PUT /api/products/{id}` body: any of the fields, at least one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateBody {
    /// The new name: 1 to 200 characters once trimmed.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// The new unit price.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    price_cents: Option<i64>,
    /// The new stock.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    stock: Option<i64>,
}

/// Change a product's name, price or stock.
///
/// The tenant's catalog and cached searches are invalidated after the commit: the
/// next read sees the new values.
#[utoipa::path(
    put,
    path = "/api/products/{id}",
    tag = "products",
    params(("id" = i64, Path, minimum = 1, description = "The product's id")),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The updated product", body = Product),
        (status = 400, description = "The body is not one JSON object of known fields, sets none, or a value is out of range (named in `detail`)", body = ErrorBody),
        (status = 404, description = "The tenant has no such product", body = ErrorBody),
    )
)]
pub async fn update(
    app: web::Data<OrderApp>,
    Caller(caller): Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "product")?;
    let body: UpdateBody = parse_json(&body)?;
    let update = ProductUpdate {
        name: body.name,
        price_cents: body.price_cents,
        stock: body.stock,
    };
    let updated = app.products.update(caller.tenant_id, id, update).await?;
    Ok(HttpResponse::Ok().json(updated))
}
