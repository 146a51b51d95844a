//! The process-wide Redis handle shared by the cache and the rate limiter.
//!
//! There is no pool: one multiplexed `ConnectionManager` carries every command. A
//! clone is an Arc, a command needs no check-out and no PING, and a broken
//! connection is replaced by the manager on the next command (bb8-redis never
//! notices a killed connection, see issue #3 of this project). `bb8-redis` stays in
//! Cargo.toml but nothing uses it yet.
//!
//! [`budget`]: a request that saw one Redis call fail skips Redis for the rest of it.
//! [`keys`]: every key's layout (prefix, version, hash tag).
//! [`timing`]: every command timed by kind, for `/metrics`.

pub mod budget;
pub mod keys;
pub mod timing;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;
use timing::{CommandTimings, TimedConnection};

/// The Redis URL unless told otherwise.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// How long a command may take before it counts as failed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);
/// First segment of every key unless told otherwise.
pub const DEFAULT_PREFIX: &str = "brisk";
/// The shortest connect timeout, whatever the command timeout: a TCP connect plus
/// HELLO needs more than a command on a warm connection.
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

/// Settings of the Redis handle ([`Redis::new`]); `config/` builds it from the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` URL.
    pub url: String,
    /// How long a command may take before it counts as failed.
    pub timeout: Duration,
    /// First segment of every key (`<prefix>:v1:<kind>:{t<id>}:...`).
    pub prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_REDIS_URL.to_string(),
            timeout: DEFAULT_TIMEOUT,
            prefix: DEFAULT_PREFIX.to_string(),
        }
    }
}

/// Cheap to clone; built once per process.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    manager: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
    timings: Arc<CommandTimings>,
}

impl Redis {
    /// Builds the handle without connecting: Redis may be down at start-up.
    pub fn new(config: &RedisConfig) -> redis::RedisResult<Self> {
        let client = redis::Client::open(config.url.as_str())?;
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.timeout))
            .set_connection_timeout(Some(config.timeout.max(MIN_CONNECT_TIMEOUT)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)?;
        Ok(Self {
            client,
            manager,
            prefix: Arc::from(config.prefix.as_str()),
            timeout: config.timeout,
            timings: Arc::default(),
        })
    }

    /// A handle on the shared multiplexed connection (an Arc clone) that times
    /// every command it sends.
    pub fn conn(&self) -> TimedConnection {
        TimedConnection::new(self.manager.clone(), Arc::clone(&self.timings))
    }

    /// The command durations of every handle of this process, by kind.
    pub fn timings(&self) -> &Arc<CommandTimings> {
        &self.timings
    }

    /// The client, for a connection of one's own (blocking commands, pub/sub):
    /// nothing in brisk opens one yet.
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
