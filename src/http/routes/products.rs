//! `/api/products`: offset list, one product, its summary, and updates.

use crate::db::queries::products::{self, ProductChanges};
use crate::error::ApiError;
use crate::http::conditional::respond_cached;
use crate::http::extract::auth::Caller;
use crate::http::extract::body::parse_json;
use crate::http::extract::query::QueryParams;
use crate::http::routes::path_id;
use crate::state::AppState;
use crate::warm::recipes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

pub const DEFAULT_PER_PAGE: i64 = 50;

#[derive(Serialize)]
struct ProductPage<'a> {
    items: &'a [crate::db::models::ProductBrief],
    page: i64,
    per_page: i64,
    pages: i64,
    total: i64,
}
pub const MAX_PER_PAGE: i64 = 100;

pub async fn list(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse(req.query_string());
    let page = params.positive("page", 1)?;
    let per_page = params.clamped("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
    let tenant = caller.tenant_id;
    let (items, total) = state
        .db
        .read(move |c| Box::pin(products::page(c, tenant, page, per_page)))
        .await?;
    let pages = (total + per_page - 1) / per_page;
    Ok(HttpResponse::Ok().json(ProductPage {
        items: &items,
        page,
        per_page,
        pages,
        total,
    }))
}

pub async fn show(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "product")?;
    let tenant = caller.tenant_id;
    let product = state
        .db
        .read(move |c| Box::pin(products::find(c, tenant, id)))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no product with id {id}")))?;
    Ok(HttpResponse::Ok().json(product))
}

pub async fn summary(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "product")?;
    let cached = recipes::product_summary(&state.cache, &state.db, caller.tenant_id, id).await?;
    Ok(respond_cached(&req, &state.variants, cached, None))
}

/// `PUT /api/products/{id}` body: any of the fields, at least one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductUpdate {
    name: Option<String>,
    price_cents: Option<i64>,
    stock: Option<i64>,
}

impl ProductUpdate {
    fn validate(self) -> Result<ProductChanges, ApiError> {
        if self.name.is_none() && self.price_cents.is_none() && self.stock.is_none() {
            return Err(ApiError::bad_request(
                "body",
                "body must set at least one of name, price_cents, stock",
            ));
        }
        if let Some(name) = &self.name {
            let len = name.trim().chars().count();
            if !(1..=200).contains(&len) {
                return Err(ApiError::bad_request(
                    "name",
                    "name must be 1 to 200 characters",
                ));
            }
        }
        if self.price_cents.is_some_and(|p| p < 0) {
            return Err(ApiError::bad_request(
                "price_cents",
                "price_cents must be >= 0",
            ));
        }
        let stock = match self.stock {
            None => None,
            Some(s) => Some(i32::try_from(s).ok().filter(|s| *s >= 0).ok_or_else(|| {
                ApiError::bad_request("stock", "stock must be an integer from 0 to 2147483647")
            })?),
        };
        Ok(ProductChanges {
            name: self.name.map(|n| n.trim().to_string()),
            price_cents: self.price_cents,
            stock,
        })
    }
}

pub async fn update(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "product")?;
    let changes = parse_json::<ProductUpdate>(&body)?.validate()?;
    let tenant = caller.tenant_id;
    let updated = {
        let mut conn = state.db.get().await?;
        products::update(&mut conn, tenant, id, &changes).await?
    }
    .ok_or_else(|| ApiError::not_found(format!("no product with id {id}")))?;
    // Committed: now the cached views may go.
    state.after_products_changed(tenant, &[id]).await;
    Ok(HttpResponse::Ok().json(updated))
}
