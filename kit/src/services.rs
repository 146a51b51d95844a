//! The process's shared services, built once before `HttpServer::new` and cloned
//! into every worker: the database pool, Redis, the cache, the limiter, metrics.

use crate::cache::{Backend as CacheBackend, Cache, CacheConfig};
use crate::db::config::DbConfig;
use crate::db::pool::DbPool;
use crate::metrics::{Bb8Pool, Metrics, MetricsConfig};
use crate::ratelimit::{Backend as LimiterBackend, Limiter, RateLimitConfig};
use crate::redis::{Redis, RedisConfig};

/// Where the cache and the limiter keep their state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Store {
    /// Shared Redis: exact across processes.
    #[default]
    Redis,
    /// In-process: a single-process deployment.
    Memory,
}

/// The process's shared services, built once before `HttpServer::new` and cloned
/// into every worker (cheap: each is a handle over shared state).
#[derive(Clone)]
pub struct Services {
    /// The database pool.
    pub db: DbPool,
    /// The Redis handle (also used with the memory store, for `/ready`).
    pub redis: Redis,
    /// Where cache and limiter state lives.
    pub store: Store,
    /// Cached views and memoized calls.
    pub cache: Cache,
    /// The rate limiter.
    pub limiter: Limiter,
    /// Metrics of this process.
    pub metrics: Metrics,
}

impl Services {
    /// Builds every service without connecting (PostgreSQL and Redis may come later).
    pub fn build(
        db: &DbConfig,
        redis: &RedisConfig,
        store: Store,
        cache: &CacheConfig,
        ratelimit: &RateLimitConfig,
        metrics: &MetricsConfig,
    ) -> Result<Self, String> {
        let redis = Redis::new(redis).map_err(|e| format!("--redis-url: {e}"))?;
        let db = DbPool::build(db);
        let metrics = Metrics::with_history(metrics.interval, metrics.history);
        metrics.register_pool("db", Bb8Pool::new(db.inner().clone(), db.max_size()));
        let limiter_backend = match store {
            Store::Redis => LimiterBackend::Redis(redis.clone()),
            Store::Memory => LimiterBackend::Memory,
        };
        let limiter = Limiter::new(ratelimit.clone(), limiter_backend, metrics.clone())?;
        let cache_backend = match store {
            Store::Redis => CacheBackend::Redis(redis.clone()),
            Store::Memory => CacheBackend::Memory,
        };
        let cache = Cache::new(cache_backend, metrics.clone(), cache.clone());
        Ok(Self {
            db,
            redis,
            store,
            cache,
            limiter,
            metrics,
        })
    }
}
