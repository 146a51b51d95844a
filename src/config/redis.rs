//! Redis and store settings.
//!
//! Environment: `BRISK_REDIS_URL`, `BRISK_REDIS_CLUSTER`, `BRISK_REDIS_TIMEOUT_MS`, `BRISK_REDIS_PREFIX`, `BRISK_STORE`.

use brisk_kit::redis::{RedisConfig, DEFAULT_PREFIX, DEFAULT_REDIS_URL, DEFAULT_TIMEOUT};
use brisk_kit::startup::Store;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Args;
use std::time::Duration;

/// `--store`: the kit's [`Store`], each value explained in `--help`.
fn store() -> impl TypedValueParser<Value = Store> {
    let help = |store| match store {
        Store::Redis => "Shared Redis: exact across processes and hosts",
        Store::Memory => "In-process: exact across the workers of one process only",
    };
    let values = Store::ALL.map(|s| PossibleValue::new(s.as_str()).help(help(s)));
    PossibleValuesParser::new(values).try_map(|s| s.parse::<Store>())
}

/// The Redis and store flags of `brisk serve`.
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis URL for cache, single-flight leases and rate-limit state; with
    /// --redis-cluster, the cluster's seed nodes as URLs separated by commas.
    #[arg(long, env = "BRISK_REDIS_URL", default_value = DEFAULT_REDIS_URL, value_parser = parse_redis_urls)]
    pub redis_url: String,
    /// The URLs name a Redis Cluster's seed nodes (redis-rs has no cluster URL scheme).
    #[arg(long, env = "BRISK_REDIS_CLUSTER", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub redis_cluster: bool,
    /// Milliseconds a Redis command may take before it counts as failed.
    #[arg(long, env = "BRISK_REDIS_TIMEOUT_MS", default_value_t = DEFAULT_TIMEOUT.as_millis() as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_timeout_ms: u64,
    /// First segment of every Redis key (`<prefix>:v1:<kind>:{t<id>}:...`).
    #[arg(long, env = "BRISK_REDIS_PREFIX", default_value = DEFAULT_PREFIX)]
    pub redis_prefix: String,
    /// Store for cache and limiter state.
    #[arg(long, env = "BRISK_STORE", default_value = Store::Redis.as_str(), value_parser = store())]
    pub store: Store,
}

impl RedisArgs {
    /// The Redis handle's settings.
    pub fn redis_config(&self) -> RedisConfig {
        RedisConfig {
            url: self.redis_url.clone(),
            cluster: self.redis_cluster,
            timeout: Duration::from_millis(self.redis_timeout_ms),
            prefix: self.redis_prefix.clone(),
        }
    }
}

/// One URL, or several separated by commas (a cluster's seed nodes), each checked.
fn parse_redis_urls(raw: &str) -> Result<String, String> {
    for url in raw.split(',') {
        parse_redis_url(url.trim())?;
    }
    Ok(raw.to_string())
}

fn parse_redis_url(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    match url.scheme() {
        "redis" | "rediss" => Ok(raw.to_string()),
        other => Err(format!("expected a redis:// URL, got scheme {other:?}")),
    }
}
