//! The cluster-wide rate limiter: limit strings ([`limits`]), the pure sliding-window
//! algorithm ([`window`]), the Redis and memory stores ([`store`]), the plan and route
//! policy ([`policy`]), the client address behind proxies ([`client_ip`]) and the
//! actix-web middleware ([`middleware`]).
//!
//! The algorithm is an exact sliding-window log, not GCRA: see [`window`] for why (the
//! spec's "at most the limit in any window-length span" is beyond any GCRA that lets a
//! burst of the limit through). Redis memory per (limit, identity) is one list entry per
//! request admitted in the last window, so at most `count` entries.
//!
//! A [`Limiter`] is built once per process (cheap to clone: an Arc) and shared by every
//! worker. Per request it makes one decision: one Redis round trip (a Lua script that
//! checks every limit of the request and charges all or none) on the shared multiplexed
//! connection, or, when Redis fails, the route class's [`FailurePolicy`]. After a store
//! error the limiter decides locally for a short breaker window (`--rate-limit-breaker-ms`)
//! instead of paying the Redis timeout on every request, then tries Redis again, so a
//! Redis that comes back is used again within that window.

pub mod client_ip;
pub mod limits;
pub mod middleware;
pub mod policy;
pub mod store;
pub mod window;

pub use limits::{parse_limits, LimitParseError, Rate};
pub use middleware::rate_limit;
pub use policy::{Check, FailurePolicy, KeyBy, Policy, PolicySpec, RequestLimits, RouteRule};

use crate::caller::AuthContext;
use crate::error::ApiError;
use crate::metrics::events::{LimiterEvent, Metrics};
use crate::redis::Redis;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use store::{Clock, MemoryStore, RedisStore, StoreOutcome};

/// Default breaker window after a store error.
pub const DEFAULT_BREAKER: Duration = Duration::from_millis(1000);

/// Where the limiter keeps its state.
#[derive(Clone)]
pub enum Backend {
    /// Shared Redis: exact across processes.
    Redis(Redis),
    /// In-process: exact across the workers of this process only.
    Memory,
}

/// Process-level settings of a [`Limiter`].
#[derive(Debug, Clone, Copy)]
pub struct LimiterSettings {
    /// Reverse-proxy hops trusted to append to `X-Forwarded-For` (0: the TCP peer).
    pub trusted_hops: u8,
    /// Processes sharing the limits: the `local` fallback gives each `limit / processes`.
    pub processes: u32,
    /// How long after a store error decisions stay local before Redis is tried again.
    pub breaker: Duration,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        Self {
            trusted_hops: 0,
            processes: 1,
            breaker: DEFAULT_BREAKER,
        }
    }
}

enum StoreImpl {
    Redis(RedisStore),
    Memory(MemoryStore),
}

struct Inner {
    policy: Policy,
    store: StoreImpl,
    /// State of the `local` failure policy (and the estimate behind `allow`'s headers).
    fallback: MemoryStore,
    clock: Clock,
    settings: LimiterSettings,
    /// Clock ms until which the breaker is open (decide without Redis).
    open_until_ms: AtomicU64,
    prefix: String,
    timeout: Duration,
    metrics: Metrics,
}

/// The process's rate limiter; clone freely.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

/// Where a decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The configured store (Redis, or memory with `--store memory`).
    Store,
    /// The failure policy, because Redis failed or the breaker is open.
    WithoutStore(FailurePolicy),
}

/// One limit's state after a decision, for headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitReport {
    pub name: Arc<str>,
    pub rate: Rate,
    pub remaining: u64,
    pub reset_after_ms: u64,
    pub retry_after_ms: Option<u64>,
}

/// The limiter's answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub source: Source,
    /// Epoch ms of the decision (Redis time when Redis decided).
    pub now_ms: u64,
    /// One report per limit of the request, in check order.
    pub limits: Vec<LimitReport>,
}

fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

impl Decision {
    /// The limit the headers describe: on a refusal the one that frees last among those
    /// that refused; otherwise the one closest to exhaustion (fewest remaining, then the
    /// latest reset).
    pub fn headline(&self) -> Option<&LimitReport> {
        if !self.allowed {
            if let Some(l) = self
                .limits
                .iter()
                .filter(|l| l.retry_after_ms.is_some())
                .max_by_key(|l| l.retry_after_ms)
            {
                return Some(l);
            }
        }
        self.limits.iter().min_by(|a, b| {
            a.remaining
                .cmp(&b.remaining)
                .then(b.reset_after_ms.cmp(&a.reset_after_ms))
        })
    }

    /// Whole seconds until a retry can pass (at least 1) when refused.
    pub fn retry_after_secs(&self) -> Option<u64> {
        if self.allowed {
            return None;
        }
        let ms = self
            .limits
            .iter()
            .filter_map(|l| l.retry_after_ms)
            .max()
            .unwrap_or(1000);
        Some(ceil_secs(ms).max(1))
    }

    /// Sets `X-RateLimit-Limit/Remaining/Reset` (epoch seconds) and the IETF
    /// `RateLimit-Policy` / `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers-09).
    pub fn apply_headers(&self, headers: &mut HeaderMap) {
        let Some(head) = self.headline() else {
            return;
        };
        let (remaining, until_ms) = match head.retry_after_ms {
            Some(retry) if !self.allowed => (0, retry),
            _ => (head.remaining, head.reset_after_ms),
        };
        let reset_epoch = ceil_secs(self.now_ms + until_ms);
        let policy = self
            .limits
            .iter()
            .map(|l| {
                format!(
                    "\"{}\";q={};w={}",
                    l.name,
                    l.rate.count,
                    ceil_secs(l.rate.period_ms()).max(1)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let current = format!(
            "\"{}\";r={};t={}",
            head.name,
            remaining,
            ceil_secs(until_ms)
        );
        let mut set = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        set("x-ratelimit-limit", head.rate.count.to_string());
        set("x-ratelimit-remaining", remaining.to_string());
        set("x-ratelimit-reset", reset_epoch.to_string());
        set("ratelimit-policy", policy);
        set("ratelimit", current);
    }

    /// The 429 for a refused request (`Retry-After` and `retry_after` in the body).
    pub fn error(&self) -> ApiError {
        let retry = self.retry_after_secs().unwrap_or(1);
        let detail = match (self.source, self.headline()) {
            (Source::WithoutStore(FailurePolicy::Deny), _) => {
                "the rate limiter cannot reach its store; retry shortly".to_string()
            }
            (_, Some(l)) => format!(
                "rate limit \"{}\" of {} exceeded; retry in {} s",
                l.name, l.rate, retry
            ),
            (_, None) => format!("rate limit exceeded; retry in {retry} s"),
        };
        ApiError::RateLimited {
            detail,
            retry_after_secs: retry,
        }
    }
}

impl Limiter {
    /// Builds the limiter once per process. Never connects: Redis may be down.
    pub fn new(
        policy: Policy,
        backend: Backend,
        settings: LimiterSettings,
        metrics: Metrics,
    ) -> Self {
        let clock = Clock::new();
        let (store, prefix, timeout) = match backend {
            Backend::Redis(redis) => {
                let prefix = redis.prefix().to_string();
                let timeout = redis.timeout();
                (StoreImpl::Redis(RedisStore::new(redis)), prefix, timeout)
            }
            Backend::Memory => (
                StoreImpl::Memory(MemoryStore::new(clock)),
                "local".to_string(),
                Duration::ZERO,
            ),
        };
        Self {
            inner: Arc::new(Inner {
                policy,
                store,
                fallback: MemoryStore::new(clock),
                clock,
                settings: LimiterSettings {
                    processes: settings.processes.max(1),
                    ..settings
                },
                open_until_ms: AtomicU64::new(0),
                prefix,
                timeout,
                metrics,
            }),
        }
    }

    /// The policy this limiter enforces.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    pub fn settings(&self) -> LimiterSettings {
        self.inner.settings
    }

    /// The limits of one request (`None`: not limited). `pattern` is the matched route
    /// pattern (`req.match_pattern()`), `auth` the request's `AuthContext` if any.
    pub fn limits_for(
        &self,
        method: &Method,
        pattern: &str,
        auth: Option<&AuthContext>,
        ip: IpAddr,
    ) -> Option<RequestLimits> {
        self.inner
            .policy
            .limits_for(&self.inner.prefix, method, pattern, auth, ip)
    }

    /// Decides one request: checks and charges all its limits, or none.
    /// Never fails: a store failure applies the request's failure policy.
    pub async fn decide(&self, limits: &RequestLimits) -> Decision {
        let inner = &self.inner;
        let decision = match &inner.store {
            StoreImpl::Memory(m) => self.report(limits, m.decide(&limits.checks, 1), Source::Store),
            StoreImpl::Redis(r) => {
                if inner.clock.now_ms() < inner.open_until_ms.load(Ordering::Relaxed) {
                    self.without_store(limits)
                } else {
                    // The manager's response timeout bounds each command; the outer bound
                    // covers a NOSCRIPT reload (three commands) and a reconnect.
                    let bound = inner.timeout * 3 + Duration::from_millis(50);
                    match tokio::time::timeout(bound, r.decide(&limits.checks, 1)).await {
                        Ok(Ok(out)) => self.report(limits, out, Source::Store),
                        Ok(Err(e)) => self.store_failed(limits, &e.to_string()),
                        Err(_) => self.store_failed(limits, "timed out"),
                    }
                }
            }
        };
        inner.metrics.limiter(if decision.allowed {
            LimiterEvent::Allowed
        } else {
            LimiterEvent::Rejected
        });
        decision
    }

    fn store_failed(&self, limits: &RequestLimits, why: &str) -> Decision {
        let inner = &self.inner;
        inner.metrics.limiter(LimiterEvent::StoreError);
        let until = inner.clock.now_ms() + inner.settings.breaker.as_millis() as u64;
        inner.open_until_ms.fetch_max(until, Ordering::Relaxed);
        log::warn!(
            "rate limiter: Redis failed ({why}); deciding by policy {:?} for {} ms",
            limits.on_failure,
            inner.settings.breaker.as_millis()
        );
        self.without_store(limits)
    }

    fn without_store(&self, limits: &RequestLimits) -> Decision {
        let inner = &self.inner;
        inner.metrics.limiter(LimiterEvent::DecidedWithoutStore);
        let processes = u64::from(inner.settings.processes);
        let share = |c: &Check| Rate::new((c.rate.count / processes).max(1), c.rate.period);
        let now = inner.clock.now_ms();
        let source = Source::WithoutStore(limits.on_failure);
        match limits.on_failure {
            FailurePolicy::Local => {
                let out = inner.fallback.decide_at(&limits.checks, share, 1, now);
                self.report_with(limits, out, source, share)
            }
            FailurePolicy::Allow => {
                // The local estimate only feeds the headers; the request passes.
                let out = inner.fallback.decide_at(&limits.checks, share, 1, now);
                let mut d = self.report_with(limits, out, source, share);
                d.allowed = true;
                for l in &mut d.limits {
                    l.retry_after_ms = None;
                }
                d
            }
            FailurePolicy::Deny => {
                let retry = inner.settings.breaker.as_millis().max(1000) as u64;
                Decision {
                    allowed: false,
                    source,
                    now_ms: now,
                    limits: limits
                        .checks
                        .iter()
                        .map(|c| LimitReport {
                            name: c.name.clone(),
                            rate: c.rate,
                            remaining: 0,
                            reset_after_ms: retry,
                            retry_after_ms: Some(retry),
                        })
                        .collect(),
                }
            }
        }
    }

    fn report(&self, limits: &RequestLimits, out: StoreOutcome, source: Source) -> Decision {
        self.report_with(limits, out, source, |c| c.rate)
    }

    fn report_with(
        &self,
        limits: &RequestLimits,
        out: StoreOutcome,
        source: Source,
        rate_of: impl Fn(&Check) -> Rate,
    ) -> Decision {
        Decision {
            allowed: out.allowed,
            source,
            now_ms: out.now_ms,
            limits: limits
                .checks
                .iter()
                .zip(out.statuses)
                .map(|(c, s)| LimitReport {
                    name: c.name.clone(),
                    rate: rate_of(c),
                    remaining: s.remaining,
                    reset_after_ms: s.reset_after_ms,
                    retry_after_ms: s.retry_after_ms,
                })
                .collect(),
        }
    }
}

impl Limiter {
    /// Builds the limiter from the command line: `store` picks Redis or memory,
    /// `trusted_hops` comes from `ServerArgs`, `processes` from `DatabaseArgs`.
    pub fn from_args(
        args: &crate::config::RateLimitArgs,
        store: crate::config::StoreKind,
        redis: &Redis,
        trusted_hops: u8,
        processes: u32,
        metrics: Metrics,
    ) -> Result<Self, String> {
        let policy = Policy::new(args.policy_spec())?;
        let backend = match store {
            crate::config::StoreKind::Redis => Backend::Redis(redis.clone()),
            crate::config::StoreKind::Memory => Backend::Memory,
        };
        let settings = LimiterSettings {
            trusted_hops,
            processes,
            breaker: args.breaker(),
        };
        Ok(Self::new(policy, backend, settings, metrics))
    }
}

#[cfg(test)]
mod tests;
