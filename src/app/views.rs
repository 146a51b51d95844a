//! The read models the API serves, rendered to JSON bytes: what the cache stores.
//! Each takes the pool and the caller's tenant; none knows about HTTP.

use super::reads::{to_bytes, ReadError};
use crate::db::models::ProductBrief;
use crate::db::pool::DbPool;
use crate::db::queries;
use bytes::Bytes;
use serde::Serialize;

#[derive(Serialize)]
struct Catalog<'a> {
    tenant_id: i64,
    products: &'a [ProductBrief],
}

/// `GET /api/catalog` body.
pub async fn catalog_json(db: &DbPool, tenant_id: i64) -> Result<Bytes, ReadError> {
    let products = db
        .read(move |c| Box::pin(queries::products::all(c, tenant_id)))
        .await?;
    to_bytes(&Catalog {
        tenant_id,
        products: &products,
    })
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
) -> Result<Bytes, ReadError> {
    let owned = q.to_string();
    let items = db
        .read(move |c| {
            let q = owned.clone();
            Box::pin(async move { queries::products::search(c, tenant_id, &q, limit).await })
        })
        .await?;
    to_bytes(&SearchResult {
        q,
        limit,
        items: &items,
    })
}

/// `GET /api/products/{id}/summary` body: the deliberately expensive aggregate.
pub async fn summary_json(
    db: &DbPool,
    tenant_id: i64,
    product_id: i64,
) -> Result<Bytes, ReadError> {
    let summary = db
        .read(move |c| Box::pin(queries::products::summary(c, tenant_id, product_id)))
        .await?
        .ok_or_else(|| ReadError::NotFound(format!("no product with id {product_id}")))?;
    to_bytes(&summary)
}
