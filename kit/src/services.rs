//! The process's shared services, built once before `HttpServer::new` and cloned
//! into every worker: the database pool, Redis, the cache, the limiter, metrics.

use crate::cache::{Cache, CacheConfig};
use crate::db::config::DbConfig;
use crate::db::pool::DbPool;
use crate::metrics::{Bb8Pool, Metrics, MetricsConfig};
use crate::ratelimit::{Limiter, RateLimitConfig};
use crate::redis::{Redis, RedisConfig};
use std::str::FromStr;

/// Where the cache and the limiter keep their state: the one store choice of the
/// kit, from the flag (`--store`) to the services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Store {
    /// Shared Redis: exact across processes.
    #[default]
    Redis,
    /// In-process: exact across the workers of one process only (a single-process
    /// deployment).
    Memory,
}

impl Store {
    /// Every store, in the order settings list them.
    pub const ALL: [Store; 2] = [Store::Redis, Store::Memory];

    /// The store's name as written in settings (`redis`, `memory`).
    pub fn as_str(self) -> &'static str {
        match self {
            Store::Redis => "redis",
            Store::Memory => "memory",
        }
    }
}

impl FromStr for Store {
    type Err = String;
    /// Case-insensitive: `redis` or `memory`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|store| store.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown store {s:?}"))
    }
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
        metrics.register_redis(redis.timings().clone());
        // The cache and the limiter keep their state in Redis, or in-process without it.
        let shared = match store {
            Store::Redis => Some(redis.clone()),
            Store::Memory => None,
        };
        let limiter = Limiter::new(ratelimit.clone(), shared.clone(), metrics.clone())?;
        let cache = Cache::new(shared, metrics.clone(), cache.clone());
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
