//! Products: one offset page, one product, and an update that invalidates the
//! tenant's cached catalog and searches after it commits.

use super::reads;
use crate::db::models::{Product, ProductBrief};
use crate::db::queries::products::{self, ProductChanges};
use crate::domain::orders::InvalidInput;
use brisk_kit::cache::Cache;
use brisk_kit::db::pool::DbPool;
use brisk_kit::db::DbError;

/// Why a product use case failed.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// A field of the request breaks a rule; the detail names it.
    #[error("{}", .0.detail)]
    Invalid(InvalidInput),
    /// The tenant has no such product.
    #[error("no product with id {0}")]
    NotFound(i64),
    /// The database failed or is unavailable.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Largest accepted `price_cents` and `stock` (API.md).
pub const MAX_AMOUNT: i64 = 1_000_000_000;

/// One offset page of the tenant's products.
#[derive(Debug, Clone)]
pub struct ProductPage {
    /// The page's products, by id.
    pub items: Vec<ProductBrief>,
    /// The tenant's product count.
    pub total: i64,
}

/// The fields a `PUT` may change; at least one is set.
#[derive(Debug, Clone, Default)]
pub struct ProductUpdate {
    /// 1–200 characters once trimmed.
    pub name: Option<String>,
    /// 0..=1,000,000,000.
    pub price_cents: Option<i64>,
    /// 0..=1,000,000,000.
    pub stock: Option<i64>,
}

impl ProductUpdate {
    fn validate(self) -> Result<ProductChanges, InvalidInput> {
        if self.name.is_none() && self.price_cents.is_none() && self.stock.is_none() {
            return Err(InvalidInput::new(
                "body",
                "body must set at least one of name, price_cents, stock",
            ));
        }
        if let Some(name) = &self.name {
            let len = name.trim().chars().count();
            if !(1..=200).contains(&len) {
                return Err(InvalidInput::new(
                    "name",
                    "name must be 1 to 200 characters",
                ));
            }
        }
        let in_range = |v: i64| (0..=MAX_AMOUNT).contains(&v);
        if self.price_cents.is_some_and(|p| !in_range(p)) {
            return Err(InvalidInput::new(
                "price_cents",
                format!("price_cents must be 0 to {MAX_AMOUNT}"),
            ));
        }
        let stock = match self.stock {
            None => None,
            Some(s) => Some(
                i32::try_from(s)
                    .ok()
                    .filter(|s| in_range(i64::from(*s)))
                    .ok_or_else(|| {
                        InvalidInput::new("stock", format!("stock must be 0 to {MAX_AMOUNT}"))
                    })?,
            ),
        };
        Ok(ProductChanges {
            name: self.name.map(|n| n.trim().to_string()),
            price_cents: self.price_cents,
            stock,
        })
    }
}

/// Products of one process: its pool and cache.
#[derive(Clone)]
pub struct Products {
    db: DbPool,
    cache: Cache,
}

impl Products {
    /// Products over the process's pool and cache.
    pub fn new(db: DbPool, cache: Cache) -> Self {
        Self { db, cache }
    }

    /// Page `page` of `per_page` products (both already validated and clamped).
    pub async fn page(
        &self,
        tenant_id: i64,
        page: i64,
        per_page: i64,
    ) -> Result<ProductPage, ProductError> {
        let (items, total) = self
            .db
            .read(move |c| Box::pin(products::page(c, tenant_id, page, per_page)))
            .await?;
        Ok(ProductPage { items, total })
    }

    /// One product of the tenant.
    pub async fn show(&self, tenant_id: i64, id: i64) -> Result<Product, ProductError> {
        self.db
            .read(move |c| Box::pin(products::find(c, tenant_id, id)))
            .await?
            .ok_or(ProductError::NotFound(id))
    }

    /// Applies `update`, then (committed) drops the tenant's cached catalog and searches.
    pub async fn update(
        &self,
        tenant_id: i64,
        id: i64,
        update: ProductUpdate,
    ) -> Result<Product, ProductError> {
        let changes = update.validate().map_err(ProductError::Invalid)?;
        // Setting the same values twice is harmless: a dead pooled connection is retried.
        let updated = self
            .db
            .idempotent_write(move |c| {
                let changes = changes.clone();
                Box::pin(async move { products::update(c, tenant_id, id, &changes).await })
            })
            .await?
            .ok_or(ProductError::NotFound(id))?;
        reads::after_product_updated(&self.cache, tenant_id).await;
        Ok(updated)
    }
}
