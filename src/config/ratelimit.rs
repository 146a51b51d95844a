//! Rate-limit settings: plan defaults, route limits, exempt routes, failure policies.
//!
//! Environment: `BRISK_RATE_LIMIT_DISABLED`, `BRISK_RATE_LIMIT_FREE`, `BRISK_RATE_LIMIT_PRO`,
//! `BRISK_RATE_LIMIT_ENTERPRISE`, `BRISK_RATE_LIMIT_LOGIN`, `BRISK_RATE_LIMIT_EXPORT`,
//! `BRISK_RATE_LIMIT_ROUTES` (`|`-separated rules), `BRISK_RATE_LIMIT_EXEMPT`
//! (`,`-separated routes), `BRISK_RATE_LIMIT_ON_FAILURE`, `BRISK_RATE_LIMIT_LOGIN_ON_FAILURE`,
//! `BRISK_RATE_LIMIT_EXPORT_ON_FAILURE`, `BRISK_RATE_LIMIT_SCALE`, `BRISK_RATE_LIMIT_BREAKER_MS`,
//! `BRISK_RATE_LIMIT_AUTH_FAILURES`.
//!
//! A limit string that does not parse stops start-up with the string quoted.

use crate::policy::{
    plans, route_rules, DEFAULT_ENTERPRISE, DEFAULT_EXPORT, DEFAULT_EXPORT_ON_FAILURE,
    DEFAULT_FREE, DEFAULT_LOGIN, DEFAULT_PRO,
};
use brisk_kit::ratelimit::config::{
    DEFAULT_AUTH_FAILURES, DEFAULT_BREAKER, DEFAULT_IP_ON_FAILURE, DEFAULT_ON_FAILURE,
    DEFAULT_SCALE,
};
use brisk_kit::ratelimit::limits::{parse_limits, LimitParseError, Rate};
use brisk_kit::ratelimit::rules::{parse_route_rule, FailurePolicy, RouteRule};
use brisk_kit::ratelimit::RateLimitConfig;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;
use std::time::Duration;

/// `--rate-limit-breaker-ms`'s default: the limiter's own.
const DEFAULT_BREAKER_MS: u64 = DEFAULT_BREAKER.as_millis() as u64;

/// One or more rates parsed from a limit string (a clap value).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits(pub Vec<Rate>);

fn limits(raw: &str) -> Result<Limits, LimitParseError> {
    parse_limits(raw).map(Limits)
}

fn scale(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Ok(s),
        _ => Err(format!(
            "rate-limit scale must be a positive number, got {raw:?}"
        )),
    }
}

/// `allow`, `deny` or `local`, listed in `--help`.
fn failure_policy() -> impl TypedValueParser<Value = FailurePolicy> {
    PossibleValuesParser::new(FailurePolicy::ALL.map(FailurePolicy::as_str))
        .try_map(|s| s.parse::<FailurePolicy>())
}

/// The rate-limit flags (see the module doc for their environment variables).
#[derive(Debug, Clone, Args)]
pub struct RateLimitArgs {
    /// Turn rate limiting off (no limits, no headers).
    #[arg(long, env = "BRISK_RATE_LIMIT_DISABLED")]
    pub rate_limit_disabled: bool,
    /// Plan limit of free tenants, one bucket per tenant across all its routes.
    #[arg(long, env = "BRISK_RATE_LIMIT_FREE", default_value = DEFAULT_FREE, value_parser = limits)]
    pub rate_limit_free: Limits,
    /// Plan limit of pro tenants.
    #[arg(long, env = "BRISK_RATE_LIMIT_PRO", default_value = DEFAULT_PRO, value_parser = limits)]
    pub rate_limit_pro: Limits,
    /// Plan limit of enterprise tenants.
    #[arg(long, env = "BRISK_RATE_LIMIT_ENTERPRISE", default_value = DEFAULT_ENTERPRISE, value_parser = limits)]
    pub rate_limit_enterprise: Limits,
    /// `POST /api/login` limit per client IP.
    #[arg(long, env = "BRISK_RATE_LIMIT_LOGIN", default_value = DEFAULT_LOGIN, value_parser = limits)]
    pub rate_limit_login: Limits,
    /// `GET /api/export.csv` limit per tenant (in addition to the plan limit).
    #[arg(long, env = "BRISK_RATE_LIMIT_EXPORT", default_value = DEFAULT_EXPORT, value_parser = limits)]
    pub rate_limit_export: Limits,
    /// Failed authentications (invalid key, bad login) per client IP (IPv6: per /64);
    /// past it every key-bearing request and login from that address gets 429.
    #[arg(long, env = "BRISK_RATE_LIMIT_AUTH_FAILURES", default_value = DEFAULT_AUTH_FAILURES, value_parser = limits)]
    pub rate_limit_auth_failures: Limits,
    /// Extra or replacing route limit, repeatable:
    /// `"GET /api/search = 10 per second; 100 per minute [by ip|tenant|user|key] [on-failure allow|deny|local]"`.
    /// Every limit flag takes a strategy after a rate: `"60 per minute moving-window"`
    /// (exact log), `fixed-window`, `gcra` (a burst of N, then N per period: up to
    /// 2N−1 in a period), or `sliding-window-counter` (the default).
    #[arg(long = "rate-limit-route", env = "BRISK_RATE_LIMIT_ROUTES", value_delimiter = '|', value_parser = parse_route_rule)]
    pub rate_limit_routes: Vec<RouteRule>,
    /// Routes never limited, repeatable: `"GET /api/catalog"` or `"/api/catalog"` (every method).
    /// Every non-`/api` route is always exempt.
    #[arg(
        long = "rate-limit-exempt",
        env = "BRISK_RATE_LIMIT_EXEMPT",
        value_delimiter = ','
    )]
    pub rate_limit_exempt: Vec<String>,
    /// When Redis fails: policy of routes not keyed by client IP (the plan limit).
    #[arg(long, env = "BRISK_RATE_LIMIT_ON_FAILURE", default_value_t = DEFAULT_ON_FAILURE, value_parser = failure_policy())]
    pub rate_limit_on_failure: FailurePolicy,
    /// When Redis fails: policy of `GET /api/export.csv` (its limit and the plan limit).
    #[arg(long, env = "BRISK_RATE_LIMIT_EXPORT_ON_FAILURE", default_value_t = DEFAULT_EXPORT_ON_FAILURE, value_parser = failure_policy())]
    pub rate_limit_export_on_failure: FailurePolicy,
    /// When Redis fails: policy of routes keyed by client IP (login).
    #[arg(long, env = "BRISK_RATE_LIMIT_LOGIN_ON_FAILURE", default_value_t = DEFAULT_IP_ON_FAILURE, value_parser = failure_policy())]
    pub rate_limit_login_on_failure: FailurePolicy,
    /// Multiplies every limit's count (benches); 1 in production.
    #[arg(long, env = "BRISK_RATE_LIMIT_SCALE", default_value_t = DEFAULT_SCALE, value_parser = scale)]
    pub rate_limit_scale: f64,
    /// Milliseconds after a Redis error during which decisions are local, before Redis is tried again.
    #[arg(long, env = "BRISK_RATE_LIMIT_BREAKER_MS", default_value_t = DEFAULT_BREAKER_MS, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub rate_limit_breaker_ms: u64,
}

impl RateLimitArgs {
    /// The limiter's settings: plan and route limits from the rate-limit flags (the login
    /// and export rules first, then the `--rate-limit-route` rules: a later rule for the
    /// same route replaces an earlier one); `trusted_hops` comes from the server flags,
    /// `processes` from the database flags.
    pub fn rate_limit_config(&self, trusted_hops: u8, processes: u32) -> RateLimitConfig {
        let args = self;
        let mut routes = route_rules(
            args.rate_limit_login.0.clone(),
            args.rate_limit_export.0.clone(),
            args.rate_limit_export_on_failure,
        );
        routes.extend(args.rate_limit_routes.iter().cloned());
        RateLimitConfig {
            plans: plans(
                args.rate_limit_free.0.clone(),
                args.rate_limit_pro.0.clone(),
                args.rate_limit_enterprise.0.clone(),
            ),
            routes,
            exempt: args.rate_limit_exempt.clone(),
            auth_failures: args.rate_limit_auth_failures.0.clone(),
            on_failure: args.rate_limit_on_failure,
            ip_on_failure: args.rate_limit_login_on_failure,
            scale: args.rate_limit_scale,
            disabled: args.rate_limit_disabled,
            trusted_hops,
            processes,
            breaker: Duration::from_millis(args.rate_limit_breaker_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServeArgs;
    use crate::domain::Plan;
    use brisk_kit::caller::PlanName;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn config(argv: &[&str]) -> RateLimitConfig {
        let argv = std::iter::once("brisk").chain(argv.iter().copied());
        Wrapper::try_parse_from(argv)
            .unwrap()
            .args
            .rate_limit_config()
    }

    #[test]
    fn defaults_match_the_api_contract() {
        let spec = config(&[]);
        let plan = |name| spec.plan_rates(PlanName(name)).unwrap().to_vec();
        assert_eq!(plan("free"), parse_limits("60 per minute").unwrap());
        assert_eq!(plan("pro"), parse_limits("600 per minute").unwrap());
        assert_eq!(plan("enterprise"), parse_limits("6000 per minute").unwrap());
        assert_eq!(spec.routes.len(), 2);
        assert_eq!(spec.on_failure, FailurePolicy::Allow);
        assert_eq!(spec.ip_on_failure, FailurePolicy::Local);
        let export = spec.routes.iter().find(|r| r.pattern == "/api/export.csv");
        assert_eq!(export.unwrap().on_failure, Some(FailurePolicy::Local));
        // The flags' defaults are the limiter's own, written once in the kit's
        // `ratelimit::config`; plans and routes are the application's (`policy`).
        let (plans, routes) = (spec.plans.clone(), spec.routes.clone());
        let kit = RateLimitConfig {
            plans,
            routes,
            ..RateLimitConfig::default()
        };
        assert_eq!(spec, kit);
    }

    #[test]
    fn the_declared_plans_are_exactly_the_domain_plans() {
        let spec = config(&[]);
        assert_eq!(spec.plans.len(), 3);
        for p in &spec.plans {
            let domain: Plan = p.plan.as_str().parse().unwrap();
            assert_eq!(domain.as_str(), p.plan.as_str());
        }
    }

    #[test]
    fn a_bad_limit_string_is_refused_with_the_string_quoted() {
        let err = Wrapper::try_parse_from(["brisk", "--rate-limit-free", "60 per fortnight"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("\"60 per fortnight\""), "{err}");
    }

    #[test]
    fn a_limit_names_its_strategy_and_an_unknown_one_is_refused_naming_the_flag() {
        use brisk_kit::ratelimit::Strategy;
        let spec = config(&[
            "--rate-limit-free",
            "60 per minute moving-window",
            "--rate-limit-route",
            "GET /api/search = 10 per second fixed-window by key",
            "--rate-limit-pro",
            "600 per minute gcra",
        ]);
        let free = spec.plan_rates(PlanName("free")).unwrap();
        assert_eq!(free[0].strategy, Strategy::MovingWindow);
        let search = spec.routes.iter().find(|r| r.pattern == "/api/search");
        assert_eq!(search.unwrap().rates[0].strategy, Strategy::FixedWindow);
        let pro = spec.plan_rates(PlanName("pro")).unwrap();
        assert_eq!(pro[0].strategy, Strategy::Gcra);
        let enterprise = spec.plan_rates(PlanName("enterprise")).unwrap();
        assert_eq!(
            enterprise[0].strategy,
            Strategy::SlidingWindowCounter,
            "the default"
        );
        let err = Wrapper::try_parse_from(["brisk", "--rate-limit-pro", "600 per minute leaky"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("--rate-limit-pro"), "{err}");
        assert!(err.contains("unknown strategy \"leaky\""), "{err}");
    }

    #[test]
    fn failed_authentications_have_their_own_limit() {
        assert_eq!(
            config(&[]).auth_failures,
            parse_limits("30 per minute").unwrap()
        );
        let spec = config(&["--rate-limit-auth-failures", "10 per minute; 100 per hour"]);
        assert_eq!(spec.auth_failures.len(), 2);
    }

    #[test]
    fn failure_policies_are_read_by_name() {
        let spec = config(&[
            "--rate-limit-on-failure",
            "deny",
            "--rate-limit-login-on-failure",
            "allow",
            "--rate-limit-export-on-failure",
            "allow",
        ]);
        assert_eq!(spec.on_failure, FailurePolicy::Deny);
        assert_eq!(spec.ip_on_failure, FailurePolicy::Allow);
        let export = spec.routes.iter().find(|r| r.pattern == "/api/export.csv");
        assert_eq!(export.unwrap().on_failure, Some(FailurePolicy::Allow));
        let err = Wrapper::try_parse_from(["brisk", "--rate-limit-on-failure", "maybe"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("[possible values: allow, deny, local]"),
            "{err}"
        );
    }

    #[test]
    fn hops_processes_and_breaker_come_from_their_flags() {
        let spec = config(&[
            "--trusted-hops",
            "2",
            "--processes",
            "3",
            "--rate-limit-breaker-ms",
            "250",
        ]);
        assert_eq!(spec.trusted_hops, 2);
        assert_eq!(spec.processes, 3);
        assert_eq!(spec.breaker, Duration::from_millis(250));
    }

    #[test]
    fn route_rules_and_exemptions_are_repeatable() {
        let spec = config(&[
            "--rate-limit-route",
            "GET /api/search = 10 per second by key",
            "--rate-limit-route",
            "POST /api/login = 3 per minute by ip on-failure deny",
            "--rate-limit-exempt",
            "GET /api/catalog,/api/dashboard",
        ]);
        assert_eq!(spec.routes.len(), 4);
        assert_eq!(spec.exempt, ["GET /api/catalog", "/api/dashboard"]);
    }
}
