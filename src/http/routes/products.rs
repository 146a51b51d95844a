//! `/api/products`: offset list, one product, its summary, and updates.

use crate::app::products::ProductUpdate;
use crate::app::OrderApp;
use crate::http::conditional::respond_cached;
use crate::http::error::ApiError;
use crate::http::extract::auth::Caller;
use crate::http::extract::body::parse_json;
use crate::http::extract::query::QueryParams;
use crate::http::precompressed::Precompressed;
use crate::http::routes::path_id;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

/// `per_page` when none is given.
pub const DEFAULT_PER_PAGE: i64 = 50;
/// Larger pages are clamped to this.
pub const MAX_PER_PAGE: i64 = 100;

#[derive(Serialize)]
struct ProductPage<T: Serialize> {
    items: T,
    page: i64,
    per_page: i64,
    pages: i64,
    total: i64,
}

/// `GET /api/products?page=&per_page=`.
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
        items: &found.items,
        page,
        per_page,
        pages: (found.total + per_page - 1) / per_page,
        total: found.total,
    }))
}

/// `GET /api/products/{id}`.
pub async fn show(
    app: web::Data<OrderApp>,
    Caller(caller): Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "product")?;
    let product = app.products.show(caller.tenant_id, id).await?;
    Ok(HttpResponse::Ok().json(product))
}

/// `GET /api/products/{id}/summary`.
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    name: Option<String>,
    price_cents: Option<i64>,
    stock: Option<i64>,
}

/// `PUT /api/products/{id}`.
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
