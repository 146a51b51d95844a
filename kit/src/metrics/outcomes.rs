//! What the cache and the rate limiter report: the outcome enums whose counts
//! `Metrics` keeps (one atomic per variant) and whose names label `/metrics` and the
//! access log. They import nothing, so every part of `metrics` can name them.

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
    /// Every outcome, in counter order.
    pub const ALL: [CacheEvent; 6] = [
        CacheEvent::Hit,
        CacheEvent::Stale,
        CacheEvent::Miss,
        CacheEvent::Coalesced,
        CacheEvent::Error,
        CacheEvent::RefreshError,
    ];

    /// The label value (`outcome="..."`) and access-log word.
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
    /// Within the limit: served.
    Allowed,
    /// Over the limit: answered 429.
    Rejected,
    /// Decided without Redis (the failure policy applied).
    DecidedWithoutStore,
    /// The store failed or timed out.
    StoreError,
}

impl LimiterEvent {
    /// Every outcome, in counter order.
    pub const ALL: [LimiterEvent; 4] = [
        LimiterEvent::Allowed,
        LimiterEvent::Rejected,
        LimiterEvent::DecidedWithoutStore,
        LimiterEvent::StoreError,
    ];

    /// The label value (`outcome="..."`) and access-log word.
    pub fn as_str(self) -> &'static str {
        match self {
            LimiterEvent::Allowed => "allowed",
            LimiterEvent::Rejected => "rejected",
            LimiterEvent::DecidedWithoutStore => "decided_without_store",
            LimiterEvent::StoreError => "store_error",
        }
    }
}
