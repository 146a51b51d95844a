//! Tests of the limiter against the real Redis (127.0.0.1:6379): every test uses its own
//! key prefix, so tests never see each other's keys. Outages are made with a TCP proxy
//! in front of Redis that the test cuts and restores.

mod gcra;
mod outage;
mod redis_store;
mod slots;
mod strategies;

pub use crate::testing::{unique_prefix, Mode, TcpProxy};

use super::{Limiter, RateLimitConfig};
use crate::metrics::events::Metrics;
use crate::redis::{Redis, RedisConfig};
use std::time::Duration;

pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A Redis handle with its own prefix. On the direct URL the timeout is 2 s, so a
/// loaded test machine never turns a store test into a fallback test; outage tests go
/// through [`TcpProxy`] with the production default of 100 ms.
/// On [`REDIS_URL`], the tests' shared Redis (a cluster with `BRISK_TEST_REDIS_CLUSTER`).
pub fn redis_at(url: &str, prefix: &str) -> Redis {
    if url == REDIS_URL {
        let config = crate::testing::shared_redis(prefix, Duration::from_millis(2_000));
        return Redis::new(&config).expect("a valid Redis URL");
    }
    Redis::new(&RedisConfig {
        url: url.to_string(),
        timeout: Duration::from_millis(100),
        prefix: prefix.to_string(),
        ..RedisConfig::default()
    })
    .expect("a valid Redis URL")
}

/// A limiter on Redis at `url` with `config` (its breaker is 1 s unless set).
pub fn limiter(url: &str, prefix: &str, config: RateLimitConfig) -> (Limiter, Metrics) {
    let metrics = Metrics::new();
    let limiter =
        Limiter::new(config, Some(redis_at(url, prefix)), metrics.clone()).expect("a valid config");
    (limiter, metrics)
}

/// The poller of the tests.
pub use brisk_testkit::wait::eventually;

/// The sub-window counts of a counter key (index → count; its totals field left out).
pub async fn sub_windows(prefix: &str, key: &str) -> std::collections::BTreeMap<u64, i64> {
    let mut conn = redis_at(REDIS_URL, prefix).conn();
    let all: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("Redis answers");
    all.into_iter()
        .filter_map(|(f, v)| Some((f.parse().ok()?, v.parse().ok()?)))
        .collect()
}
