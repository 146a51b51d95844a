//! Cache and warming settings.
//!
//! Environment: `BRISK_CACHE_DISABLED`, `BRISK_CACHE_JITTER_PCT`, `BRISK_CACHE_STALE_PCT`,
//! `BRISK_CACHE_LEASE_MS`, `BRISK_CACHE_WAIT_MS`, `BRISK_CACHE_BREAKER_MS`,
//! `BRISK_WARM_INTERVAL_MS`, `BRISK_WARM_BUDGET`, `BRISK_WARM_HOT_ACCESSES`,
//! `BRISK_WARM_HALF_LIFE_MS`, `BRISK_WARM_DISABLED`.

use brisk_kit::cache::{self, CacheConfig};
use brisk_kit::warm::{self, WarmConfig};
use clap::Args;
use std::time::Duration;

// The defaults are the subsystems' own (written once, next to their configs), in
// the units of the flags.
const DEFAULT_LEASE_MS: u64 = cache::DEFAULT_LEASE_TTL.as_millis() as u64;
const DEFAULT_WAIT_MS: u64 = cache::DEFAULT_LEASE_WAIT.as_millis() as u64;
const DEFAULT_BREAKER_MS: u64 = cache::DEFAULT_BREAKER.as_millis() as u64;
const DEFAULT_HALF_LIFE_MS: u64 = cache::DEFAULT_HOT_HALF_LIFE.as_millis() as u64;
const DEFAULT_INTERVAL_MS: u64 = warm::DEFAULT_INTERVAL.as_millis() as u64;

/// The cache and warming flags.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// Serve every cached route and memoized call straight from its computation.
    #[arg(long, env = "BRISK_CACHE_DISABLED")]
    pub cache_disabled: bool,
    /// TTL jitter, in percent of the TTL either way (spreads expiries).
    #[arg(long, env = "BRISK_CACHE_JITTER_PCT", default_value_t = cache::DEFAULT_JITTER_PCT, value_parser = clap::value_parser!(u8).range(0..=50))]
    pub cache_jitter_pct: u8,
    /// Stale window after the soft expiry, in percent of the TTL: a read in it is
    /// served stale while one refresh runs; after it the entry is gone (hard TTL).
    #[arg(long, env = "BRISK_CACHE_STALE_PCT", default_value_t = cache::DEFAULT_STALE_PCT, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub cache_stale_pct: u16,
    /// Milliseconds a single-flight lease (the right to compute one key) lasts.
    #[arg(long, env = "BRISK_CACHE_LEASE_MS", default_value_t = DEFAULT_LEASE_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_lease_ms: u64,
    /// Milliseconds a caller waits for another process's computation before serving
    /// stale or computing itself.
    #[arg(long, env = "BRISK_CACHE_WAIT_MS", default_value_t = DEFAULT_WAIT_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_wait_ms: u64,
    /// Blocking Redis connections (a bb8-redis pool) on which callers waiting for
    /// another process's computation wait for its wake-up instead of polling; 0: poll.
    /// Ignored on a Redis Cluster (waiters poll).
    #[arg(long, env = "BRISK_CACHE_WAITER_CONNECTIONS", default_value_t = cache::DEFAULT_WAITER_CONNECTIONS)]
    pub cache_waiter_connections: u32,
    /// Milliseconds the cache bypasses Redis after a Redis error or timeout.
    #[arg(long, env = "BRISK_CACHE_BREAKER_MS", default_value_t = DEFAULT_BREAKER_MS)]
    pub cache_breaker_ms: u64,
    /// Milliseconds between two rounds of the warming scheduler.
    #[arg(long, env = "BRISK_WARM_INTERVAL_MS", default_value_t = DEFAULT_INTERVAL_MS, value_parser = clap::value_parser!(u64).range(10..))]
    pub warm_interval_ms: u64,
    /// Refreshes the warming scheduler runs at once (bounds its database load).
    #[arg(long, env = "BRISK_WARM_BUDGET", default_value_t = warm::DEFAULT_BUDGET as u16, value_parser = clap::value_parser!(u16).range(1..))]
    pub warm_budget: u16,
    /// Decayed access count from which a key is hot (kept warm).
    #[arg(long, env = "BRISK_WARM_HOT_ACCESSES", default_value_t = warm::DEFAULT_HOT_ACCESSES)]
    pub warm_hot_accesses: f64,
    /// Half-life of access counts, in milliseconds.
    #[arg(long, env = "BRISK_WARM_HALF_LIFE_MS", default_value_t = DEFAULT_HALF_LIFE_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub warm_half_life_ms: u64,
    /// Do not run the warming scheduler in this process.
    #[arg(long, env = "BRISK_WARM_DISABLED")]
    pub warm_disabled: bool,
}

impl CacheArgs {
    /// The cache's settings.
    pub fn cache_config(&self) -> CacheConfig {
        CacheConfig {
            enabled: !self.cache_disabled,
            jitter: f64::from(self.cache_jitter_pct) / 100.0,
            stale_fraction: f64::from(self.cache_stale_pct) / 100.0,
            lease_ttl: Duration::from_millis(self.cache_lease_ms),
            lease_wait: Duration::from_millis(self.cache_wait_ms),
            breaker: Duration::from_millis(self.cache_breaker_ms),
            hot_half_life: Duration::from_millis(self.warm_half_life_ms),
            waiter_connections: self.cache_waiter_connections,
        }
    }

    /// The warming scheduler's settings.
    pub fn warm_config(&self) -> WarmConfig {
        WarmConfig {
            interval: Duration::from_millis(self.warm_interval_ms),
            budget: usize::from(self.warm_budget),
            hot_accesses: self.warm_hot_accesses,
        }
    }
}
