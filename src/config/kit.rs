//! `brisk serve`'s flags turned into the configurations `main` hands out: the kit's,
//! one struct per subsystem, and the order API's. Each section's file maps its own
//! flags; what needs two sections (the limiter reads the server's trusted hops and
//! the database's process count) is put together here, above them all.

use super::{LogFormat, ServeArgs};
use crate::order_api::OrderApiConfig;
use brisk_kit::ratelimit::RateLimitConfig;
use brisk_kit::startup::{KitConfig, ServerConfig};
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
                compression: server.compression,
                ..ServerConfig::default()
            },
            db: self.database.pool_config(),
            budget: (!self.database.skip_budget_check).then(|| self.database.budget_config()),
            redis: self.redis.redis_config(),
            store: self.redis.store,
            cache: self.cache.cache_config(),
            warm: (!self.cache.warm_disabled).then(|| self.cache.warm_config()),
            ratelimit: self.rate_limit_config(),
            metrics: self.metrics.metrics_config(server.log_format),
            peers: brisk_kit::peers::PeersConfig {
                advertise: server.advertise.clone(),
                ..Default::default()
            },
            info: vec![(
                "cursor_secret",
                if self.uses_dev_secret() {
                    "development"
                } else {
                    "set"
                }
                .to_string(),
            )],
        }
    }

    /// The limiter's settings (`RateLimitArgs::rate_limit_config`).
    pub fn rate_limit_config(&self) -> RateLimitConfig {
        let (hops, processes) = (self.server.trusted_hops, self.database.processes);
        self.ratelimit.rate_limit_config(hops, processes)
    }

    /// The order API's settings, its cursors signed with `--secret`.
    pub fn order_api_config(&self) -> OrderApiConfig {
        self.api.order_api_config(&self.server.secret)
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
