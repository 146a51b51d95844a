//! The read models the API serves, rendered to JSON bytes: what the cache stores.
//! Each takes the pool and the caller's tenant; none knows about HTTP.

use crate::db::models::{ProductBrief, ProductSummary};
use crate::db::pool::DbPool;
use crate::db::queries;
use crate::error::ApiError;
use bytes::Bytes;
use serde::Serialize;

#[derive(Serialize)]
struct Catalog<'a> {
    tenant_id: i64,
    products: &'a [ProductBrief],
}

/// `GET /api/catalog` body.
pub async fn catalog_json(db: &DbPool, tenant_id: i64) -> Result<Bytes, ApiError> {
    let products = db
        .read(move |c| Box::pin(queries::products::all(c, tenant_id)))
        .await?;
    let body = serde_json::to_vec(&Catalog {
        tenant_id,
        products: &products,
    })
    .map_err(ApiError::internal)?;
    Ok(Bytes::from(body))
}

#[derive(Serialize)]
struct SearchResult<'a> {
    q: &'a str,
    limit: i64,
    items: &'a [ProductBrief],
}

/// `GET /api/search` body.
pub async fn search_json(
    db: &DbPool,
    tenant_id: i64,
    q: &str,
    limit: i64,
) -> Result<Bytes, ApiError> {
    let owned = q.to_string();
    let items = db
        .read(move |c| {
            let q = owned.clone();
            Box::pin(async move { queries::products::search(c, tenant_id, &q, limit).await })
        })
        .await?;
    let body = serde_json::to_vec(&SearchResult {
        q,
        limit,
        items: &items,
    })
    .map_err(ApiError::internal)?;
    Ok(Bytes::from(body))
}

/// `GET /api/products/{id}/summary`: the deliberately expensive aggregate.
pub async fn product_summary(
    db: &DbPool,
    tenant_id: i64,
    product_id: i64,
) -> Result<ProductSummary, ApiError> {
    db.read(move |c| Box::pin(queries::products::summary(c, tenant_id, product_id)))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no product with id {product_id}")))
}
