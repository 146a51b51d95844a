//! The process-wide Redis handle shared by the cache and the rate limiter.
//!
//! One multiplexed `ConnectionManager` carries the hot path: a clone is an Arc, a
//! command needs no check-out and no PING, and a broken connection is replaced by
//! the manager on the next command (bb8-redis never notices a killed connection,
//! see issue #3 of this project). A bb8-redis pool is kept for work that needs a
//! connection of its own (blocking commands, scripts run in bulk).

use crate::config::RedisArgs;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;

/// Cheap to clone; built once per process.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    manager: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
}

impl Redis {
    /// Builds the handle without connecting: Redis may be down at start-up.
    pub fn new(args: &RedisArgs) -> redis::RedisResult<Self> {
        let client = redis::Client::open(args.redis_url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(args.timeout()))
            .set_connection_timeout(Some(args.timeout().max(Duration::from_millis(250))))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self {
            client,
            manager,
            prefix: Arc::from(args.redis_prefix.as_str()),
            timeout: args.timeout(),
        })
    }

    /// A handle on the shared multiplexed connection (an Arc clone).
    pub fn conn(&self) -> ConnectionManager {
        self.manager.clone()
    }

    /// The client, for connections of their own (pub/sub).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// First segment of every key; tests give each server its own.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The per-command timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// True when Redis answers PING within the timeout.
    pub async fn ping(&self) -> bool {
        let mut conn = self.conn();
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        matches!(tokio::time::timeout(self.timeout, ping).await, Ok(Ok(_)))
    }
}
