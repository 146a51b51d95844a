//! What a [`Limiter`](super::Limiter) enforces and how it behaves: plan limits, route
//! limits, exempt routes, failure policies, scale, breaker, proxies and processes. Each
//! default is written once, as a named const here; `config::ratelimit` turns the command
//! line into a [`RateLimitConfig`].
//!
//! The plan and route defaults are the shipped order API's policy (API.md): plans
//! `free`/`pro`/`enterprise` at 60/600/6000 per minute, login 5 per minute per client IP,
//! export 1 per day per tenant, 30 failed authentications per minute per client IP. An application built on the kit declares its own plans
//! and routes in place of these.

use super::limits::{parse_limits, Rate};
use super::rules::{FailurePolicy, KeyBy, RouteRule};
use crate::caller::PlanName;
use actix_web::http::Method;
use std::time::Duration;

/// The shipped API's plan for tenants that pay nothing.
pub const PLAN_FREE: PlanName = PlanName("free");
/// The shipped API's paid plan.
pub const PLAN_PRO: PlanName = PlanName("pro");
/// The shipped API's largest plan.
pub const PLAN_ENTERPRISE: PlanName = PlanName("enterprise");

/// Plan limit of [`PLAN_FREE`]: one bucket per tenant across all its routes.
pub const DEFAULT_FREE: &str = "60 per minute";
/// Plan limit of [`PLAN_PRO`].
pub const DEFAULT_PRO: &str = "600 per minute";
/// Plan limit of [`PLAN_ENTERPRISE`].
pub const DEFAULT_ENTERPRISE: &str = "6000 per minute";

/// The route `POST /api/login`, limited per client IP.
pub const LOGIN_ROUTE: (Method, &str) = (Method::POST, "/api/login");
/// Limit of [`LOGIN_ROUTE`] per client IP.
pub const DEFAULT_LOGIN: &str = "5 per minute";
/// The route `GET /api/export.csv`, limited per tenant on top of the plan limit.
pub const EXPORT_ROUTE: (Method, &str) = (Method::GET, "/api/export.csv");
/// Limit of [`EXPORT_ROUTE`] per tenant.
pub const DEFAULT_EXPORT: &str = "1 per day";

/// Failed authentications (an invalid key, a login with bad credentials) per client
/// address before every key-bearing request and login from it is refused.
pub const DEFAULT_AUTH_FAILURES: &str = "30 per minute";

/// Failure policy of routes not keyed by client IP (the plan limit): let through.
pub const DEFAULT_ON_FAILURE: FailurePolicy = FailurePolicy::Allow;
/// Failure policy of [`EXPORT_ROUTE`]: each process keeps its share of the limit, so
/// an outage does not let every tenant run unlimited exports (each one a long scan).
pub const DEFAULT_EXPORT_ON_FAILURE: FailurePolicy = FailurePolicy::Local;
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

/// The shipped API's plans with the given limits.
pub fn shipped_plans(free: Vec<Rate>, pro: Vec<Rate>, enterprise: Vec<Rate>) -> Vec<PlanLimits> {
    [
        (PLAN_FREE, free),
        (PLAN_PRO, pro),
        (PLAN_ENTERPRISE, enterprise),
    ]
    .into_iter()
    .map(|(plan, rates)| PlanLimits { plan, rates })
    .collect()
}

/// The shipped API's route limits with the given rates: login per client IP (its
/// class's failure policy), export per tenant ([`DEFAULT_EXPORT_ON_FAILURE`]).
pub fn shipped_routes(login: Vec<Rate>, export: Vec<Rate>) -> Vec<RouteRule> {
    let rule = |(method, pattern): (Method, &str), rates, key, on_failure| RouteRule {
        method,
        pattern: pattern.into(),
        rates,
        key,
        on_failure,
    };
    vec![
        rule(LOGIN_ROUTE, login, KeyBy::Ip, None),
        rule(
            EXPORT_ROUTE,
            export,
            KeyBy::Tenant,
            Some(DEFAULT_EXPORT_ON_FAILURE),
        ),
    ]
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            plans: shipped_plans(
                builtin(DEFAULT_FREE),
                builtin(DEFAULT_PRO),
                builtin(DEFAULT_ENTERPRISE),
            ),
            routes: shipped_routes(builtin(DEFAULT_LOGIN), builtin(DEFAULT_EXPORT)),
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

    #[test]
    fn every_builtin_limit_parses() {
        for s in [
            DEFAULT_FREE,
            DEFAULT_PRO,
            DEFAULT_ENTERPRISE,
            DEFAULT_LOGIN,
            DEFAULT_EXPORT,
            DEFAULT_AUTH_FAILURES,
        ] {
            assert!(parse_limits(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn the_default_is_the_shipped_api_policy() {
        let c = RateLimitConfig::default();
        let minute = Duration::from_secs(60);
        assert_eq!(c.plan_rates(PLAN_FREE), Some(&[Rate::new(60, minute)][..]));
        assert_eq!(c.plan_rates(PLAN_PRO), Some(&[Rate::new(600, minute)][..]));
        assert_eq!(
            c.plan_rates(PLAN_ENTERPRISE),
            Some(&[Rate::new(6000, minute)][..])
        );
        let routes: Vec<_> = c
            .routes
            .iter()
            .map(|r| (r.method.as_str(), r.pattern.as_str(), r.key))
            .collect();
        assert_eq!(
            routes,
            [
                ("POST", "/api/login", KeyBy::Ip),
                ("GET", "/api/export.csv", KeyBy::Tenant)
            ]
        );
        assert_eq!(c.on_failure, FailurePolicy::Allow);
        assert_eq!(c.ip_on_failure, FailurePolicy::Local);
        assert_eq!(c.breaker, Duration::from_secs(1));
    }

    #[test]
    fn with_plan_replaces_a_declared_plan_and_adds_a_new_one() {
        let three = parse_limits("3 per minute").unwrap();
        let c = RateLimitConfig::default()
            .with_plan(PLAN_FREE, three.clone())
            .with_plan(PlanName("team"), three.clone());
        assert_eq!(c.plans.len(), 4);
        assert_eq!(c.plan_rates(PLAN_FREE), Some(three.as_slice()));
        assert_eq!(c.plan_rates(PlanName("team")), Some(three.as_slice()));
    }
}
