//! The read models the API serves, rendered to JSON bytes: what the cache stores.
//! Each takes the pool and the caller's tenant; none knows about HTTP.

use super::read_error::{to_bytes, ReadError};
use crate::db::queries;
use brisk_kit::db::pool::DbPool;
use bytes::Bytes;
use serde::Serialize;

// The shapes the handlers answer with, named for the API's document.
pub use crate::db::models::{
    CustomerRef, OrderItemView, OrderView, Product, ProductBrief, ProductSummary,
};
pub use crate::db::queries::dashboard::TopProduct;

/// `GET /api/catalog` body: every product of the tenant, by id.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Catalog<'a> {
    /// The caller's tenant.
    pub tenant_id: i64,
    /// Its products, ordered by id.
    pub products: &'a [ProductBrief],
}

/// `GET /api/catalog` body with every product read and serialized: the reference the
/// served body ([`super::catalog::CatalogFragments`], built from fragments) equals.
pub async fn catalog_json(db: &DbPool, tenant_id: i64) -> Result<Bytes, ReadError> {
    let products = db
        .read(move |c| Box::pin(queries::products::all(c, tenant_id)))
        .await?;
    to_bytes(&Catalog {
        tenant_id,
        products: &products,
    })
}

/// `GET /api/search` body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchResult<'a> {
    /// The query as given.
    pub q: &'a str,
    /// The limit applied (clamped to 100).
    pub limit: i64,
    /// Products whose name or sku contains `q`, by id.
    pub items: &'a [ProductBrief],
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
