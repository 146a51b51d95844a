//! The state shared by every worker of a process, built once in `startup` before
//! `HttpServer::new` and cloned (Arcs) into each worker's `App`.

use crate::cache::{Backend, Cache};
use crate::config::{ServeArgs, StoreKind};
use crate::db::pool::DbPool;
use crate::http::extract::auth::KeyMemo;
use crate::http::precompressed::Precompressed;
use crate::metrics::{Bb8Pool, Metrics};
use crate::ratelimit::{self, Limiter};
use crate::redis::Redis;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: DbPool,
    pub redis: Redis,
    pub metrics: Metrics,
    pub keys: KeyMemo,
    /// Compressed variants of cached bodies, per ETag.
    pub variants: Precompressed,
    /// Signs pagination cursors.
    pub cursor_secret: Arc<[u8]>,
    pub settings: Arc<ServeArgs>,
    /// The process's rate limiter (shared by every worker).
    pub limiter: Limiter,
    /// Cached views and memoized calls (Redis, or in-process with `--store memory`).
    pub cache: Cache,
}

impl AppState {
    pub fn build(args: &ServeArgs) -> Result<Self, String> {
        let redis =
            Redis::new(&args.redis.redis_config()).map_err(|e| format!("--redis-url: {e}"))?;
        let db = DbPool::build(&args.database.pool_config());
        let metrics = Metrics::with_history(args.metrics.interval(), args.metrics.metrics_history);
        metrics.register_pool("db", Bb8Pool::new(db.inner().clone(), db.max_size()));
        // One mapping of `--store` for both subsystems.
        let (cache_backend, limiter_backend) = match args.redis.store {
            StoreKind::Redis => (
                Backend::Redis(redis.clone()),
                ratelimit::Backend::Redis(redis.clone()),
            ),
            StoreKind::Memory => (Backend::Memory, ratelimit::Backend::Memory),
        };
        let limiter = Limiter::new(args.rate_limit_config(), limiter_backend, metrics.clone())?;
        let cache = Cache::new(cache_backend, metrics.clone(), args.cache.cache_config());
        crate::warm::recipes::register(&cache, &db);
        Ok(Self {
            db,
            redis,
            metrics,
            limiter,
            cache,
            keys: KeyMemo::default(),
            variants: Precompressed::default(),
            cursor_secret: Arc::from(args.server.secret.as_bytes()),
            settings: Arc::new(args.clone()),
        })
    }

    /// Called after a committed product update: drops the tenant's cached catalog
    /// and searches (the summary is priced from order items and stands).
    pub async fn after_products_changed(&self, tenant_id: i64, product_ids: &[i64]) {
        log::debug!("tenant {tenant_id}: products {product_ids:?} changed");
        crate::warm::recipes::after_product_updated(&self.cache, tenant_id).await;
    }

    /// Called after a committed order: stock changed (catalog, searches) and so did
    /// the touched products' summaries.
    pub async fn after_order_created(&self, tenant_id: i64, product_ids: &[i64]) {
        crate::warm::recipes::after_order_created(&self.cache, tenant_id, product_ids).await;
    }
}
