//! Outcome counters fed by the cache and the rate limiter: plain atomics, so
//! recording costs one relaxed add and no lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What a cache lookup did. Handlers also put the outcome of their request in the
/// response extensions so the access log can show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheEvent {
    /// Fresh value served from the cache.
    Hit,
    /// Stale value served while a refresh runs.
    Stale,
    /// Not cached: computed by this caller.
    Miss,
    /// Waited on another caller's computation (in this process or another).
    Coalesced,
    /// The store failed: bypassed and computed.
    Error,
    /// A background refresh failed (stale kept).
    RefreshError,
}

impl CacheEvent {
    pub const ALL: [CacheEvent; 6] = [
        CacheEvent::Hit,
        CacheEvent::Stale,
        CacheEvent::Miss,
        CacheEvent::Coalesced,
        CacheEvent::Error,
        CacheEvent::RefreshError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CacheEvent::Hit => "hit",
            CacheEvent::Stale => "stale",
            CacheEvent::Miss => "miss",
            CacheEvent::Coalesced => "coalesced",
            CacheEvent::Error => "error",
            CacheEvent::RefreshError => "refresh_error",
        }
    }
}

/// What the rate limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimiterEvent {
    Allowed,
    Rejected,
    /// Decided without Redis (the failure policy applied).
    DecidedWithoutStore,
    /// The store failed or timed out.
    StoreError,
}

impl LimiterEvent {
    pub const ALL: [LimiterEvent; 4] = [
        LimiterEvent::Allowed,
        LimiterEvent::Rejected,
        LimiterEvent::DecidedWithoutStore,
        LimiterEvent::StoreError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LimiterEvent::Allowed => "allowed",
            LimiterEvent::Rejected => "rejected",
            LimiterEvent::DecidedWithoutStore => "decided_without_store",
            LimiterEvent::StoreError => "store_error",
        }
    }
}

#[derive(Default)]
struct Counters {
    cache: [AtomicU64; 6],
    limiter: [AtomicU64; 4],
}

/// Shared by every worker of the process; clone freely.
#[derive(Clone, Default)]
pub struct Metrics {
    counters: Arc<Counters>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cache(&self, event: CacheEvent) {
        self.counters.cache[event as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn limiter(&self, event: LimiterEvent) {
        self.counters.limiter[event as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn cache_count(&self, event: CacheEvent) -> u64 {
        self.counters.cache[event as usize].load(Ordering::Relaxed)
    }

    pub fn limiter_count(&self, event: LimiterEvent) -> u64 {
        self.counters.limiter[event as usize].load(Ordering::Relaxed)
    }
}
