//! The cluster-wide rate limiter: its settings ([`config`]), limit strings ([`limits`]),
//! route rules ([`rules`]), the pure algorithms ([`window`]: the exact log and the
//! trait every strategy implements; [`counter`]: the sliding-window counter, the
//! default, and fixed windows; [`gcra`]: GCRA; [`state`]: any of them, per limit), their Redis scripts
//! ([`script`]), the Redis and memory stores ([`store`]), the plan and route policy ([`policy`]), the client address
//! behind proxies ([`client_ip`]) and the answer for one request ([`decision`]). The
//! actix-web middleware that asks it and renders its answer is
//! `http::middleware::rate_limit`; this module knows nothing of the application (plans
//! are names the application declares) nor of HTTP responses.
//!
//! Each limit names its [`Strategy`] (`"60 per minute moving-window"`). The default,
//! `sliding-window-counter`, keeps API.md's "at most N in any span of one period" in
//! state independent of N: at most 65 sub-window counters per (limit, identity) in a
//! Redis hash, refusing up to 1/64 of a period early ([`counter`]). `moving-window` is
//! the exact log (one list entry per admission in the window: exact, but its memory and
//! Redis time grow with N); `fixed-window` one counter per calendar window (up to 2·N
//! across a window boundary); `gcra` one theoretical arrival time (a burst of N, then
//! one per period/N: up to 2N−1 in a span of one period, so opt-in only; see [`gcra`]
//! for its exact bound and [`window`] for why it is not the default).
//!
//! A [`Limiter`] is built once per process (cheap to clone: an Arc) and shared by every
//! worker. Per request it makes one decision: one Redis round trip (a Lua script that
//! checks every limit of the request and charges all or none) on the shared multiplexed
//! connection, or, when Redis fails, the route class's [`FailurePolicy`]. After a store
//! error the limiter decides locally for a short breaker window (`--rate-limit-breaker-ms`)
//! instead of paying the Redis timeout on every request, then tries Redis again, so a
//! Redis that comes back is used again within that window. Within one request, a Redis
//! failure anywhere (the cache's API-key memo, say) also makes the limiter decide by
//! policy without trying Redis (`crate::redis::budget`).

pub mod client_ip;
pub mod config;
pub mod counter;
pub mod decision;
pub mod failures;
pub mod gcra;
pub mod limits;
pub mod policy;
pub mod rules;
pub mod script;
pub mod slots;
pub mod state;
pub mod store;
pub mod window;

pub use config::{PlanLimits, RateLimitConfig};
pub use decision::{Decision, LimitReport, Rejection, Source};
pub use failures::Reservation;
pub use limits::{parse_limits, LimitParseError, Rate, Strategy};
pub use policy::{Check, Policy, RequestLimits};
pub use rules::{parse_route_rule, FailurePolicy, KeyBy, RouteRule};

use crate::breaker::Breaker;
use crate::caller::AuthContext;
use crate::clock::Clock;
use crate::metrics::events::{LimiterEvent, Metrics};
use crate::redis::{budget, Redis};
use actix_web::http::Method;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use store::{MemoryStore, RedisStore, StoreOutcome};

/// The process-level settings a [`Limiter`] keeps from its [`RateLimitConfig`].
#[derive(Debug, Clone, Copy)]
struct Settings {
    trusted_hops: u8,
    /// At least 1.
    processes: u32,
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
    settings: Settings,
    /// Open after a Redis failure: decide without Redis for its window.
    breaker: Breaker,
    prefix: String,
    timeout: Duration,
    metrics: Metrics,
}

/// The process's rate limiter; clone freely.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

impl Limiter {
    /// Builds the limiter once per process, its state in `redis` (exact across
    /// processes) or, without one, in-process (exact across this process's workers).
    /// Never connects: Redis may be down. An exempt route that does not parse is an error.
    pub fn new(
        config: RateLimitConfig,
        redis: Option<Redis>,
        metrics: Metrics,
    ) -> Result<Self, String> {
        let policy = Policy::new(&config)?;
        let clock = Clock::system();
        let (store, prefix, timeout) = match redis {
            Some(redis) => {
                let prefix = redis.prefix().to_string();
                let timeout = redis.timeout();
                (StoreImpl::Redis(RedisStore::new(redis)), prefix, timeout)
            }
            None => (
                StoreImpl::Memory(MemoryStore::new(clock.clone())),
                "local".to_string(),
                Duration::ZERO,
            ),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                policy,
                store,
                fallback: MemoryStore::new(clock.clone()),
                breaker: Breaker::new(config.breaker, clock.clone()),
                clock,
                settings: Settings {
                    trusted_hops: config.trusted_hops,
                    processes: config.processes.max(1),
                },
                prefix,
                timeout,
                metrics,
            }),
        })
    }

    /// The policy this limiter enforces.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Reverse-proxy hops trusted to append to `X-Forwarded-For` (see [`client_ip`]).
    pub fn trusted_hops(&self) -> u8 {
        self.inner.settings.trusted_hops
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
        self.run(None, limits, true).await
    }

    /// [`Limiter::decide`] for a request that must also be under `guard` (limits it
    /// does not count against: the failed-authentication limit of its address), in the
    /// same store call. Refused by the guard: the decision reports the guard's limits
    /// and nothing is charged. Without the store each side follows its own policy.
    pub async fn decide_guarded(&self, guard: &RequestLimits, limits: &RequestLimits) -> Decision {
        self.run(Some(guard), limits, true).await
    }

    /// What [`Limiter::decide`] would answer now, charging nothing (a dry run with the
    /// same store, breaker and failure policy).
    pub async fn peek(&self, limits: &RequestLimits) -> Decision {
        self.run(None, limits, false).await
    }

    async fn run(
        &self,
        guard: Option<&RequestLimits>,
        limits: &RequestLimits,
        charge: bool,
    ) -> Decision {
        let inner = &self.inner;
        let guards = guard.map_or(&[][..], |g| &g.checks);
        let decision = match &inner.store {
            StoreImpl::Memory(m) => {
                let now = inner.clock.now_ms();
                let out = if charge {
                    m.decide_at(guards, &limits.checks, |c| c.rate, 1, now)
                } else {
                    m.peek_at(&limits.checks, |c| c.rate, 1, now)
                };
                self.report_guarded(guard, limits, out, Source::Store)
            }
            StoreImpl::Redis(r) => {
                // Breaker open, or Redis already failed in this request (whose
                // later Redis calls would pay another timeout): decide by policy.
                if inner.breaker.is_open() || budget::spent() {
                    self.without_store_guarded(guard, limits, charge)
                } else {
                    let call = async {
                        if charge {
                            r.decide_guarded(guards, &limits.checks, 1).await
                        } else {
                            r.peek(&limits.checks, 1).await
                        }
                    };
                    // One Redis timeout for the whole decision, a reconnect or a
                    // NOSCRIPT reload included: a request waits on Redis at most once.
                    match tokio::time::timeout(inner.timeout, call).await {
                        Ok(Ok(out)) => self.report_guarded(guard, limits, out, Source::Store),
                        Ok(Err(e)) => self.store_failed(guard, limits, &e.to_string(), charge),
                        Err(_) => self.store_failed(guard, limits, "timed out", charge),
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

    fn store_failed(
        &self,
        guard: Option<&RequestLimits>,
        limits: &RequestLimits,
        why: &str,
        charge: bool,
    ) -> Decision {
        let inner = &self.inner;
        budget::failed();
        inner.metrics.limiter(LimiterEvent::StoreError);
        inner.breaker.trip();
        log::warn!(
            "rate limiter: Redis failed ({why}); deciding by policy {:?} for {} ms",
            limits.on_failure,
            inner.breaker.window().as_millis()
        );
        self.without_store_guarded(guard, limits, charge)
    }

    /// Without the store the guard is a dry run under its own policy, then the limits.
    /// One decision: `decided_without_store` counts it once, as `allowed` or `rejected`
    /// does (a guarded one counted twice made the outcomes disagree).
    fn without_store_guarded(
        &self,
        guard: Option<&RequestLimits>,
        limits: &RequestLimits,
        charge: bool,
    ) -> Decision {
        self.inner
            .metrics
            .limiter(LimiterEvent::DecidedWithoutStore);
        if let Some(guard) = guard {
            let refused = self.without_store(guard, false);
            if !refused.allowed {
                return refused;
            }
        }
        self.without_store(limits, charge)
    }

    fn without_store(&self, limits: &RequestLimits, charge: bool) -> Decision {
        let inner = &self.inner;
        let processes = u64::from(inner.settings.processes);
        // The process's share of the count, counted by the limit's own strategy.
        let share = |c: &Check| Rate {
            count: (c.rate.count / processes).max(1),
            ..c.rate
        };
        let now = inner.clock.now_ms();
        let source = Source::WithoutStore(limits.on_failure);
        let local = |share: &dyn Fn(&Check) -> Rate| {
            if charge {
                inner.fallback.decide_at(&[], &limits.checks, share, 1, now)
            } else {
                inner.fallback.peek_at(&limits.checks, share, 1, now)
            }
        };
        match limits.on_failure {
            FailurePolicy::Local => {
                let out = local(&share);
                self.report_with(limits, out, source, share)
            }
            FailurePolicy::Allow => {
                // The local estimate only feeds the headers; the request passes.
                let out = local(&share);
                let mut d = self.report_with(limits, out, source, share);
                d.allowed = true;
                for l in &mut d.limits {
                    l.retry_after_ms = None;
                }
                d
            }
            FailurePolicy::Deny => {
                let retry = inner.breaker.window().as_millis().max(1000) as u64;
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

    /// The decision of a guarded store call: the guard's when it refused, else the
    /// request's own limits (the guard's statuses come first in `out`).
    fn report_guarded(
        &self,
        guard: Option<&RequestLimits>,
        limits: &RequestLimits,
        mut out: StoreOutcome,
        source: Source,
    ) -> Decision {
        let Some(guard) = guard else {
            return self.report(limits, out, source);
        };
        let own = out
            .statuses
            .split_off(guard.checks.len().min(out.statuses.len()));
        if out.statuses.iter().any(|s| s.retry_after_ms.is_some()) {
            out.allowed = false;
            return self.report(guard, out, source);
        }
        out.statuses = own;
        self.report(limits, out, source)
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

// `pub(crate)`: the HTTP middleware's tests build their limiters with these helpers.
#[cfg(test)]
pub(crate) mod tests;
