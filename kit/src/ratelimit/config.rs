//! What a [`Limiter`](super::Limiter) enforces and how it behaves: plan limits, route
//! limits, exempt routes, failure policies, scale, breaker, proxies and processes. Each
//! default is written once, as a named const here; `config::ratelimit` turns the command
//! line into a [`RateLimitConfig`].
//!
//! The defaults name no plan and no route: an application declares its own plans
//! ([`RateLimitConfig::with_plan`]) and route limits ([`RouteRule`]). What the kit does
//! limit by default is failed authentication: 30 per minute per client address.

use super::limits::{parse_limits, Rate};
use super::rules::{FailurePolicy, RouteRule};
use crate::caller::PlanName;
use std::time::Duration;

/// Failed authentications (an invalid key, a login with bad credentials) per client
/// address before every key-bearing request and login from it is refused.
pub const DEFAULT_AUTH_FAILURES: &str = "30 per minute";

/// Failure policy of routes not keyed by client IP (the plan limit): let through.
pub const DEFAULT_ON_FAILURE: FailurePolicy = FailurePolicy::Allow;
/// Failure policy of routes keyed by client IP (login): brute force stays limited.
pub const DEFAULT_IP_ON_FAILURE: FailurePolicy = FailurePolicy::Local;
/// Multiplier of every count: 1 in production (benches raise it).
pub const DEFAULT_SCALE: f64 = 1.0;
/// How long after a store error decisions stay local before Redis is tried again.
pub const DEFAULT_BREAKER: Duration = Duration::from_millis(1000);
/// Reverse-proxy hops trusted by default: none, the TCP peer is the client.
pub const DEFAULT_TRUSTED_HOPS: u8 = 0;
/// Processes sharing the limits by default.
pub const DEFAULT_PROCESSES: u32 = 1;

/// One plan's limits, as the application declares them at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanLimits {
    /// The plan callers carry in [`AuthContext::plan`](crate::caller::AuthContext::plan).
    pub plan: PlanName,
    /// Every rate a tenant on this plan stays under, across all its routes.
    pub rates: Vec<Rate>,
}

/// Everything a [`Limiter`](super::Limiter) is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    /// Plan limits; a later entry for the same plan replaces an earlier one. A caller
    /// whose plan is not listed gets no plan limit.
    pub plans: Vec<PlanLimits>,
    /// Route limits; later rules for the same method and pattern replace earlier ones.
    pub routes: Vec<RouteRule>,
    /// Routes never limited: `"METHOD /pattern"` or `"/pattern"` (every method).
    pub exempt: Vec<String>,
    /// Failed authentications per client address (IP-keyed: decided by `ip_on_failure`
    /// when Redis fails); empty: not limited.
    pub auth_failures: Vec<Rate>,
    /// Class default for routes not keyed by IP (the plan limit, ...; export has its own).
    pub on_failure: FailurePolicy,
    /// Class default for IP-keyed routes (login: brute force must stay limited).
    pub ip_on_failure: FailurePolicy,
    /// Multiplies every count (benches); 1.0 in production.
    pub scale: f64,
    /// No route is limited (`--rate-limit-disabled`).
    pub disabled: bool,
    /// Reverse-proxy hops trusted to append to `X-Forwarded-For` (0: the TCP peer).
    pub trusted_hops: u8,
    /// Processes sharing the limits: the `local` fallback gives each `limit / processes`.
    pub processes: u32,
    /// How long after a store error decisions stay local before Redis is tried again.
    pub breaker: Duration,
}

/// Parses a built-in limit string (each is checked by a unit test).
fn builtin(limit: &str) -> Vec<Rate> {
    parse_limits(limit).expect("built-in limit parses")
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            plans: Vec::new(),
            routes: Vec::new(),
            exempt: Vec::new(),
            auth_failures: builtin(DEFAULT_AUTH_FAILURES),
            on_failure: DEFAULT_ON_FAILURE,
            ip_on_failure: DEFAULT_IP_ON_FAILURE,
            scale: DEFAULT_SCALE,
            disabled: false,
            trusted_hops: DEFAULT_TRUSTED_HOPS,
            processes: DEFAULT_PROCESSES,
            breaker: DEFAULT_BREAKER,
        }
    }
}

impl RateLimitConfig {
    /// Declares (or replaces) the limits of `plan`.
    pub fn with_plan(mut self, plan: PlanName, rates: Vec<Rate>) -> Self {
        self.plans.retain(|p| p.plan != plan);
        self.plans.push(PlanLimits { plan, rates });
        self
    }

    /// The declared limits of `plan` (before scaling), if any.
    pub fn plan_rates(&self, plan: PlanName) -> Option<&[Rate]> {
        self.plans
            .iter()
            .rev()
            .find(|p| p.plan == plan)
            .map(|p| p.rates.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN_BASIC: PlanName = PlanName("basic");

    #[test]
    fn every_builtin_limit_parses() {
        assert!(parse_limits(DEFAULT_AUTH_FAILURES).is_ok());
    }

    #[test]
    fn the_default_names_no_plan_and_no_route() {
        let c = RateLimitConfig::default();
        assert!(c.plans.is_empty());
        assert!(c.routes.is_empty());
        assert_eq!(c.auth_failures, [Rate::new(30, Duration::from_secs(60))]);
        assert_eq!(c.on_failure, FailurePolicy::Allow);
        assert_eq!(c.ip_on_failure, FailurePolicy::Local);
        assert_eq!(c.breaker, Duration::from_secs(1));
    }

    #[test]
    fn with_plan_replaces_a_declared_plan_and_adds_a_new_one() {
        let three = parse_limits("3 per minute").unwrap();
        let five = parse_limits("5 per minute").unwrap();
        let c = RateLimitConfig::default()
            .with_plan(PLAN_BASIC, five)
            .with_plan(PLAN_BASIC, three.clone())
            .with_plan(PlanName("team"), three.clone());
        assert_eq!(c.plans.len(), 2);
        assert_eq!(c.plan_rates(PLAN_BASIC), Some(three.as_slice()));
        assert_eq!(c.plan_rates(PlanName("team")), Some(three.as_slice()));
    }
}
