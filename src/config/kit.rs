//! `brisk serve`'s flags turned into the kit's configuration, one struct per
//! subsystem: the only place that maps clap arguments onto them.

use super::{LogFormat, ServeArgs, StoreKind};
use brisk_kit::startup::{KitConfig, ServerConfig, Store};
use std::time::Duration;

impl ServeArgs {
    /// The kit's configuration from these flags.
    pub fn kit_config(&self) -> KitConfig {
        let server = &self.server;
        KitConfig {
            server: ServerConfig {
                bind: server.bind,
                admin_bind: server.admin_bind,
                workers: usize::from(server.workers),
                shutdown_timeout: Duration::from_secs(server.shutdown_timeout_secs),
                log_format: server.log_format.into(),
                header_timeout: Duration::from_millis(server.header_timeout_ms),
                body_timeout: Duration::from_millis(server.body_timeout_ms),
                ..ServerConfig::default()
            },
            db: self.database.pool_config(),
            budget: (!self.database.skip_budget_check).then(|| self.database.budget_config()),
            redis: self.redis.redis_config(),
            store: match self.redis.store {
                StoreKind::Redis => Store::Redis,
                StoreKind::Memory => Store::Memory,
            },
            cache: self.cache.cache_config(),
            warm: (!self.cache.warm_disabled).then(|| self.cache.warm_config()),
            ratelimit: self.rate_limit_config(),
            metrics: self.metrics.metrics_config(server.log_format),
        }
    }

    /// True when the cursor-signing secret is the development default.
    pub fn uses_dev_secret(&self) -> bool {
        self.server.secret == super::server::DEV_SECRET
    }
}

impl LogFormat {
    /// Whether lines are JSON.
    pub fn is_json(self) -> bool {
        self == LogFormat::Json
    }
}
