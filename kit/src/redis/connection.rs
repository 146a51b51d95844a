//! The one connection every Redis command of the process goes through: redis-rs's
//! multiplexed `ConnectionManager` on a single node, or its async cluster connection
//! on a Redis Cluster (named by its seed nodes). Both are cheap to clone, connect
//! lazily (Redis may be down at start-up) and reconnect by themselves; the cluster
//! one follows `MOVED`/`ASK` and a failover to a promoted replica, with bounded
//! retries instead of redis-rs's default 16.

use super::RedisConfig;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use std::time::Duration;

/// Retries of a command on a cluster (a moved slot, a failover): enough for a replica
/// to be promoted within a request's patience, not the 16 that would hold a request.
const CLUSTER_RETRIES: u32 = 3;
/// The shortest connect timeout, whatever the command timeout: a TCP connect plus
/// HELLO needs more than a command on a warm connection.
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

/// A single node's manager or a cluster's connection.
#[derive(Clone)]
pub enum Connection {
    /// One Redis server.
    Single(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl Connection {
    /// Opens (lazily) what `config` names: with `cluster`, `url` is a comma-separated
    /// list of seed nodes.
    pub fn open(config: &RedisConfig) -> RedisResult<Connection> {
        let connect = config.timeout.max(MIN_CONNECT_TIMEOUT);
        if config.cluster {
            let seeds: Vec<&str> = config.url.split(',').map(str::trim).collect();
            let client = ClusterClientBuilder::new(seeds)
                .retries(CLUSTER_RETRIES)
                .min_retry_wait(10)
                .max_retry_wait(200)
                .build()?;
            let settings = ClusterConfig::new()
                .set_connection_timeout(connect)
                .set_response_timeout(config.timeout);
            return Ok(Connection::Cluster(
                client.get_pending_async_connection_with_config(settings),
            ));
        }
        let client = redis::Client::open(config.url.as_str())?;
        let settings = ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.timeout))
            .set_connection_timeout(Some(connect))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        Ok(Connection::Single(ConnectionManager::new_lazy_with_config(
            client, settings,
        )?))
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}
