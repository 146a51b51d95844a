//! Failed authentication per client address (API.md, "Hostile input"): a request that
//! presents a key that is not valid, or a login with bad credentials, counts against
//! its address (`--rate-limit-auth-failures`, default 30 per minute; the address as
//! `client_ip` resolves it, IPv6 by its /64). Past the limit every key-bearing request
//! and every login from that address is refused with 429 before any database work, so
//! a guesser learns nothing about which keys are valid.
//!
//! It is its own decision, made before authentication; the request's own limits (plan,
//! route) stay one atomic call afterwards. Two forms:
//!
//! - [`Limiter::reserve_failure`]: before a credential check whose outcome is unknown
//!   (a key this process has not verified recently, a login), charge one unit, then
//!   [`Limiter::refund`] it when the check succeeds. Charging first means concurrent
//!   guesses cannot all pass a check that each would fail afterwards: at most the limit
//!   of them ever reach the database.
//! - [`Limiter::failures_exceeded`]: before using a key this process verified
//!   recently, a dry run (nothing charged): refused only when the address is already
//!   over the limit.
//!
//! Both use the limiter's store, breaker and the IP-keyed failure policy (`local` by
//! default: without Redis, each process limits its share).

use super::decision::{Decision, Source};
use super::policy::RequestLimits;
use super::rules::FailurePolicy;
use super::{Limiter, StoreImpl};
use std::net::IpAddr;

/// Left in a request's extensions by the authentication middleware when the key was
/// one this process verified recently: its address's failure limit is still to be
/// checked, and the rate-limit middleware checks it in the same store call as the
/// request's own limits ([`Limiter::decide_after_failures`]), or alone
/// ([`Limiter::failures_exceeded`]) on a route without limits.
#[derive(Debug, Clone, Copy)]
pub struct FailureCheckDue {
    /// The client address the failures are counted against.
    pub ip: IpAddr,
}

/// A unit of the failure limit charged before a credential check; hand it back to
/// [`Limiter::refund`] when the check succeeds (dropping it keeps the unit charged).
#[derive(Debug)]
pub struct Reservation {
    limits: RequestLimits,
    /// The admission's stamp (epoch ms) in every log it was charged to.
    stamp_ms: u64,
    source: Source,
}

impl Limiter {
    /// The failed-authentication limits of `ip`, if any.
    fn failure_limits(&self, ip: IpAddr) -> Option<RequestLimits> {
        self.inner
            .policy
            .auth_failure_limits(&self.inner.prefix, ip)
    }

    /// Charges one failure to `ip` before a credential check. `Ok(None)`: failures are
    /// not limited; `Err`: the address is over its limit (answer 429, check nothing).
    pub async fn reserve_failure(&self, ip: IpAddr) -> Result<Option<Reservation>, Decision> {
        let Some(limits) = self.failure_limits(ip) else {
            return Ok(None);
        };
        let decision = self.decide(&limits).await;
        if !decision.allowed {
            return Err(decision);
        }
        Ok(Some(Reservation {
            limits,
            stamp_ms: decision.now_ms,
            source: decision.source,
        }))
    }

    /// `Some` (answer 429) when `ip` is already over its failure limit; charges nothing.
    pub async fn failures_exceeded(&self, ip: IpAddr) -> Option<Decision> {
        let limits = self.failure_limits(ip)?;
        let decision = self.peek(&limits).await;
        (!decision.allowed).then_some(decision)
    }

    /// Decides `limits` for a request with a key this process verified recently, in one
    /// store call with the dry run of [`Limiter::failures_exceeded`]: refused (the
    /// failure limit's decision, nothing charged) when `ip` is over its failure limit.
    pub async fn decide_after_failures(&self, ip: IpAddr, limits: &RequestLimits) -> Decision {
        match self.failure_limits(ip) {
            Some(guard) => self.decide_guarded(&guard, limits).await,
            None => self.decide(limits).await,
        }
    }

    /// Takes back a reservation whose credential check succeeded (or could not be
    /// made: not the client's failure). A refund that cannot reach Redis leaves the unit
    /// charged until it leaves the window: logged, never an error for the request.
    pub async fn refund(&self, reservation: Reservation) {
        let inner = &self.inner;
        let Reservation {
            limits,
            stamp_ms,
            source,
        } = reservation;
        match (source, &inner.store) {
            (Source::Store, StoreImpl::Memory(m)) => m.refund(&limits.checks, stamp_ms),
            (Source::Store, StoreImpl::Redis(r)) => {
                let call = r.refund(&limits.checks, stamp_ms);
                match tokio::time::timeout(inner.timeout * 2, call).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => log::debug!("rate limiter: refund failed: {e}"),
                    Err(_) => log::debug!("rate limiter: refund timed out"),
                }
            }
            // `local` and `allow` charged the process's own estimate; `deny` charged nothing.
            (Source::WithoutStore(FailurePolicy::Deny), _) => {}
            (Source::WithoutStore(_), _) => inner.fallback.refund(&limits.checks, stamp_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::events::Metrics;
    use crate::ratelimit::limits::parse_limits;
    use crate::ratelimit::tests::{limiter, unique_prefix, REDIS_URL};
    use crate::ratelimit::{Check, FailurePolicy, Limiter, RateLimitConfig, RequestLimits};
    use std::net::IpAddr;

    fn config() -> RateLimitConfig {
        RateLimitConfig {
            auth_failures: parse_limits("3 per minute").unwrap(),
            ..RateLimitConfig::default()
        }
    }

    /// A request's own limit (5 per minute) on a key of its own.
    fn own_limits() -> RequestLimits {
        RequestLimits {
            checks: vec![Check {
                name: "own".into(),
                rate: parse_limits("5 per minute").unwrap()[0],
                key: format!("{}:own", unique_prefix()),
            }],
            on_failure: FailurePolicy::Allow,
        }
    }

    async fn exercise(l: &Limiter) {
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let other: IpAddr = "198.51.100.8".parse().unwrap();
        // Refunded reservations (successful checks) never add up.
        for _ in 0..10 {
            let r = l.reserve_failure(ip).await.unwrap().unwrap();
            l.refund(r).await;
        }
        assert!(l.failures_exceeded(ip).await.is_none());
        // A remembered key's request: its own limit charged, the failure limit only read
        // (were it charged, the loop below would be refused one reservation early).
        let own = own_limits();
        let d = l.decide_after_failures(ip, &own).await;
        assert!(d.allowed);
        assert_eq!((d.limits.len(), d.limits[0].remaining), (1, 4), "{d:?}");
        // Three kept reservations (failed checks) use the limit up.
        for _ in 0..3 {
            assert!(l.failures_exceeded(ip).await.is_none());
            drop(l.reserve_failure(ip).await.unwrap());
        }
        let refused = l.failures_exceeded(ip).await.expect("over the limit");
        let rejection = refused.rejection().unwrap();
        assert!(rejection.retry_after_secs >= 59, "{rejection:?}");
        assert!(rejection.detail.contains("auth-failures"), "{rejection:?}");
        assert!(l.reserve_failure(ip).await.is_err());
        // Over the limit, the same request is refused by the failure limit, uncharged.
        let d = l.decide_after_failures(ip, &own).await;
        assert!(!d.allowed);
        assert!(
            d.rejection().unwrap().detail.contains("auth-failures"),
            "{d:?}"
        );
        let d = l.decide_after_failures(other, &own).await;
        assert_eq!(
            d.limits[0].remaining, 3,
            "the refused request charged nothing"
        );
        // A dry run charged nothing, and other addresses are unaffected.
        assert!(l.reserve_failure(other).await.unwrap().is_some());
        assert!(l.failures_exceeded(other).await.is_none());
    }

    #[tokio::test]
    async fn failures_are_reserved_refunded_and_refused_per_address_in_redis() {
        let (l, _) = limiter(REDIS_URL, &unique_prefix(), config());
        exercise(&l).await;
    }

    #[tokio::test]
    async fn failures_are_reserved_refunded_and_refused_per_address_in_memory() {
        let l = Limiter::new(config(), None, Metrics::new()).unwrap();
        exercise(&l).await;
    }

    #[tokio::test]
    async fn concurrent_guesses_cannot_slip_past_the_limit() {
        let (l, _) = limiter(REDIS_URL, &unique_prefix(), config());
        let ip: IpAddr = "198.51.100.9".parse().unwrap();
        let tries = (0..20).map(|_| l.reserve_failure(ip));
        let admitted = futures_util::future::join_all(tries)
            .await
            .into_iter()
            .filter(|r| r.is_ok())
            .count();
        assert_eq!(admitted, 3);
    }
}
