//! The order application's use cases: plain async functions and small structs over
//! the kit's pool and cache and the application's queries, each returning its own
//! error enum. Nothing here knows actix; the handlers in `routes` extract,
//! call one use case and map its answer.

pub mod catalog;
pub mod dashboard;
pub mod export;
pub mod ordering;
pub mod orders;
pub mod products;
pub mod read_error;
pub mod reads;
pub mod sessions;
pub mod views;

use crate::domain::OrderStatus;
use brisk_kit::cache::{Cache, CachedBody};
use brisk_kit::db::pool::DbPool;
use brisk_kit::failure::Failure;
use brisk_kit::metrics::RequestStatements;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use read_error::ReadError;

/// Every use case of the order application, built once per process over the kit's
/// pool and cache and shared by every worker (cheap to clone).
#[derive(Clone)]
pub struct OrderApp {
    /// Cached reads: catalog, search, summaries.
    pub reads: Reads,
    /// Product pages, product, update.
    pub products: products::Products,
    /// Order pages and one order.
    pub orders: orders::Orders,
    /// Placing orders with idempotency.
    pub ordering: ordering::Ordering,
    /// API-key authentication and login.
    pub sessions: sessions::Sessions,
    /// CSV exports and their slots.
    pub exports: export::Exports,
    db: DbPool,
}

impl OrderApp {
    /// The application over the process's pool and cache, with at most
    /// `max_concurrent_exports` exports at once; registers its cache recipes
    /// (warming, preload) with the cache.
    pub fn new(db: DbPool, cache: Cache, max_concurrent_exports: usize) -> Self {
        let fragments = catalog::CatalogFragments::default();
        reads::register(&cache, &db, &fragments);
        Self {
            reads: Reads {
                cache: cache.clone(),
                db: db.clone(),
                fragments,
            },
            products: products::Products::new(db.clone(), cache.clone()),
            orders: orders::Orders::new(db.clone(), cache.clone()),
            ordering: ordering::Ordering::new(db.clone(), cache.clone()),
            sessions: sessions::Sessions::new(db.clone()),
            exports: export::Exports::new(db.clone(), max_concurrent_exports),
            db,
        }
    }

    /// `POST /api/login`.
    pub async fn login(
        &self,
        email: &str,
        password: String,
    ) -> Result<sessions::Login, sessions::SessionError> {
        sessions::login(&self.db, email, password).await
    }

    /// `GET /api/dashboard` as of `now`.
    pub async fn dashboard(
        &self,
        tenant_id: i64,
        plan: &'static str,
        now: DateTime<Utc>,
    ) -> Result<dashboard::Dashboard, Failure> {
        dashboard::dashboard(&self.db, tenant_id, plan, now)
            .await
            .map_err(|e| Failure::from(&e))
    }

    /// `GET /api/export.csv` as a stream of CSV chunks, once a slot is free and the
    /// first chunk is read (`export` module doc).
    pub async fn export_csv(
        &self,
        tenant_id: i64,
        statements: RequestStatements,
    ) -> Result<impl Stream<Item = Result<Bytes, Failure>>, export::ExportError> {
        let chunks = self.exports.start(tenant_id, statements).await?;
        Ok(futures_util::TryStreamExt::map_err(chunks, |e| {
            Failure::from(&e)
        }))
    }
}

/// The cached reads of [`reads`], over the process's cache and pool.
#[derive(Clone)]
pub struct Reads {
    cache: Cache,
    db: DbPool,
    fragments: catalog::CatalogFragments,
}

impl Reads {
    /// `GET /api/catalog` (no body when `If-None-Match` matched).
    pub async fn catalog(
        &self,
        tenant_id: i64,
        if_none_match: Option<&str>,
    ) -> Result<CachedBody, ReadError> {
        reads::catalog(
            &self.cache,
            &self.db,
            &self.fragments,
            tenant_id,
            if_none_match,
        )
        .await
    }

    /// `GET /api/search` for a validated `q` and a clamped `limit`.
    pub async fn search(
        &self,
        tenant_id: i64,
        q: &str,
        limit: i64,
        if_none_match: Option<&str>,
    ) -> Result<CachedBody, ReadError> {
        reads::search(&self.cache, &self.db, tenant_id, q, limit, if_none_match).await
    }

    /// `GET /api/products/{id}/summary`.
    pub async fn product_summary(
        &self,
        tenant_id: i64,
        product_id: i64,
    ) -> Result<CachedBody, ReadError> {
        reads::product_summary(&self.cache, &self.db, tenant_id, product_id).await
    }

    /// The tenant's order count with the status filter (memoized).
    pub async fn order_count(
        &self,
        tenant_id: i64,
        status: Option<OrderStatus>,
    ) -> Result<i64, ReadError> {
        reads::order_count(&self.cache, &self.db, tenant_id, status).await
    }
}
