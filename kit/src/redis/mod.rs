//! The process-wide Redis handle shared by the cache and the rate limiter.
//!
//! There is no pool: one multiplexed connection per thread carries every command that
//! thread sends ([`connection`]: a `ConnectionManager` on one node, the cluster
//! connection on a Redis Cluster). A clone is an Arc, a command needs no check-out and
//! no PING, and a broken connection is replaced on the next command (bb8-redis never
//! notices a killed connection, see issue #3 of this project).
//!
//! Per thread because a multiplexed connection's reader and writer run as a task on
//! the runtime that first used it: shared by every worker, each command crossed
//! threads twice (a wake-up through an eventfd each way, 1.5 extra system calls per
//! request measured under wrk). Each actix worker is one thread with its own runtime,
//! so its commands now stay on it: a process holds one connection per worker, plus
//! one for its main thread.
//!
//! [`budget`]: a request that saw one Redis call fail skips Redis for the rest of it.
//! [`keys`]: every key's layout (prefix, version, hash tag).
//! [`script`]: Lua scripts sent as one `EVALSHA`, loaded again on `NOSCRIPT`.
//! [`timing`]: every command timed by kind, for `/metrics`.

pub mod budget;
pub mod connection;
pub mod keys;
pub mod script;
pub mod timing;

use connection::Connection;
use std::sync::Arc;
use std::time::Duration;
use thread_local::ThreadLocal;
use timing::{CommandTimings, TimedConnection};

/// The Redis URL unless told otherwise.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// How long a command may take before it counts as failed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);
/// First segment of every key unless told otherwise.
pub const DEFAULT_PREFIX: &str = "brisk";

/// Settings of the Redis handle ([`Redis::new`]); `config/` builds it from the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` URL; with `cluster`, the seed nodes' URLs separated
    /// by commas.
    pub url: String,
    /// A Redis Cluster (`url` names its seed nodes) rather than one server.
    pub cluster: bool,
    /// How long a command may take before it counts as failed.
    pub timeout: Duration,
    /// First segment of every key (`<prefix>:v1:<kind>:{t<id>}:...`).
    pub prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_REDIS_URL.to_string(),
            cluster: false,
            timeout: DEFAULT_TIMEOUT,
            prefix: DEFAULT_PREFIX.to_string(),
        }
    }
}

/// Cheap to clone; built once per process.
#[derive(Clone)]
pub struct Redis {
    connections: Arc<Connections>,
    prefix: Arc<str>,
    timeout: Duration,
    timings: Arc<CommandTimings>,
}

impl Redis {
    /// Builds the handle without connecting: Redis may be down at start-up.
    pub fn new(config: &RedisConfig) -> redis::RedisResult<Self> {
        Ok(Self {
            connections: Arc::new(Connections::new(config)?),
            prefix: Arc::from(config.prefix.as_str()),
            timeout: config.timeout,
            timings: Arc::default(),
        })
    }

    /// A handle on this thread's multiplexed connection (an Arc clone) that times
    /// every command it sends.
    pub fn conn(&self) -> TimedConnection {
        TimedConnection::new(self.connections.here(), Arc::clone(&self.timings))
    }

    /// True on a Redis Cluster: a multi-key command must keep its keys on one slot.
    pub fn is_cluster(&self) -> bool {
        self.connections.cluster
    }

    /// The URL of the one server this handle talks to; `None` on a Redis Cluster
    /// (what a pool of single-node connections, e.g. for blocking commands, needs).
    pub fn node_url(&self) -> Option<&str> {
        (!self.connections.cluster).then_some(self.connections.url.as_str())
    }

    /// The command durations of every handle of this process, by kind.
    pub fn timings(&self) -> &Arc<CommandTimings> {
        &self.timings
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

/// One lazily opened connection per thread that sends commands.
struct Connections {
    url: String,
    cluster: bool,
    timeout: Duration,
    /// The connection of the thread that built the handle: the URL is checked then,
    /// and a thread whose own connection cannot be opened uses this one.
    first: Connection,
    per_thread: ThreadLocal<Connection>,
}

impl Connections {
    fn new(config: &RedisConfig) -> redis::RedisResult<Self> {
        Ok(Self {
            first: Connection::open(&config.url, config.cluster, config.timeout)?,
            url: config.url.clone(),
            cluster: config.cluster,
            timeout: config.timeout,
            per_thread: ThreadLocal::new(),
        })
    }

    /// This thread's connection, opened (lazily: no I/O here) on its first command.
    fn here(&self) -> Connection {
        self.per_thread
            .get_or(|| {
                Connection::open(&self.url, self.cluster, self.timeout)
                    .unwrap_or_else(|_| self.first.clone())
            })
            .clone()
    }
}
