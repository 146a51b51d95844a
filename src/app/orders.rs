//! Order reads: a page of the tenant's orders (offset with its memoized total, or
//! keyset), and one order.

use super::read_error::ReadError;
use super::reads;
use crate::db::models::OrderView;
use crate::db::queries::orders;
use crate::domain::orders::{OrderPage, OrderPosition, OrderQuery};
use brisk_kit::cache::Cache;
use brisk_kit::db::pool::DbPool;
use brisk_kit::db::DbError;

/// Why an order read failed.
#[derive(Debug, thiserror::Error)]
pub enum OrderReadError {
    /// The tenant has no such order.
    #[error("no order with id {0}")]
    NotFound(i64),
    /// The database failed or is unavailable.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The memoized total failed.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// One page of orders.
#[derive(Debug, Clone)]
pub struct OrdersPage {
    /// The page's orders, newest first.
    pub items: Vec<OrderView>,
    /// Where the next keyset page starts, if this page is full.
    pub next: Option<OrderPosition>,
    /// The tenant's order count with the status filter (offset form only).
    pub total: Option<i64>,
}

/// Order reads of one process: its pool and cache.
#[derive(Clone)]
pub struct Orders {
    db: DbPool,
    cache: Cache,
}

impl Orders {
    /// Order reads over the process's pool and cache.
    pub fn new(db: DbPool, cache: Cache) -> Self {
        Self { db, cache }
    }

    /// One page; the offset form's total (memoized) is read at the same time.
    pub async fn list(
        &self,
        tenant_id: i64,
        query: OrderQuery,
    ) -> Result<OrdersPage, OrderReadError> {
        let page = async {
            self.db
                .read(move |c| Box::pin(async move { orders::list(c, tenant_id, &query).await }))
                .await
                .map_err(OrderReadError::from)
        };
        let (list, total) = match query.page {
            OrderPage::Offset { .. } => {
                let total = async {
                    reads::order_count(&self.cache, &self.db, tenant_id, query.status)
                        .await
                        .map_err(OrderReadError::from)
                };
                let (list, total) = futures_util::try_join!(page, total)?;
                (list, Some(total))
            }
            OrderPage::Keyset { .. } => (page.await?, None),
        };
        Ok(OrdersPage {
            items: list.items,
            next: list.next,
            total,
        })
    }

    /// One order of the tenant with its customer and items.
    pub async fn show(&self, tenant_id: i64, id: i64) -> Result<OrderView, OrderReadError> {
        self.db
            .read(move |c| Box::pin(orders::find(c, tenant_id, id)))
            .await?
            .ok_or(OrderReadError::NotFound(id))
    }
}
