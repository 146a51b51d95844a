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

/// Which kind of cache entry an outcome belongs to (`kind="..."` of
/// `brisk_cache_events_total`): a cached view, a memoized call, or an invalidation
/// (whose only outcome is `error`: the bump did not reach the store when issued).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheKind {
    /// `Cache::view`: a whole response body.
    View,
    /// `Cache::memoize`, `Cache::memoize_bytes`: a function's value.
    Memo,
    /// `Cache::bump_namespace`, `Cache::delete_memo`.
    Invalidation,
}

impl CacheKind {
    /// Every kind, in counter order.
    pub const ALL: [CacheKind; 3] = [CacheKind::View, CacheKind::Memo, CacheKind::Invalidation];

    /// The label value (`kind="..."`).
    pub fn as_str(self) -> &'static str {
        match self {
            CacheKind::View => "view",
            CacheKind::Memo => "memo",
            CacheKind::Invalidation => "invalidation",
        }
    }
}

/// What became of one invalidation (a generation bump after a write):
/// `brisk_cache_invalidations_total{outcome="..."}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidationOutcome {
    /// The store took the bump when it was issued.
    Applied,
    /// It failed (or Redis was known to be failing): kept for the retrier.
    Deferred,
    /// The retrier applied a deferred one.
    Retried,
    /// Lost: the pending set was full (the process bypasses the cache for a while).
    Dropped,
}

impl InvalidationOutcome {
    /// Every outcome, in counter order.
    pub const ALL: [InvalidationOutcome; 4] = [
        InvalidationOutcome::Applied,
        InvalidationOutcome::Deferred,
        InvalidationOutcome::Retried,
        InvalidationOutcome::Dropped,
    ];

    /// The label value (`outcome="..."`).
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidationOutcome::Applied => "applied",
            InvalidationOutcome::Deferred => "deferred",
            InvalidationOutcome::Retried => "retried",
            InvalidationOutcome::Dropped => "dropped",
        }
    }
}
