//! Rate-limit settings: plan defaults, route limits, exempt routes, failure policies.
//!
//! Environment: `BRISK_RATE_LIMIT_DISABLED`, `BRISK_RATE_LIMIT_FREE`, `BRISK_RATE_LIMIT_PRO`,
//! `BRISK_RATE_LIMIT_ENTERPRISE`, `BRISK_RATE_LIMIT_LOGIN`, `BRISK_RATE_LIMIT_EXPORT`,
//! `BRISK_RATE_LIMIT_ROUTES` (`|`-separated rules), `BRISK_RATE_LIMIT_EXEMPT`
//! (`,`-separated routes), `BRISK_RATE_LIMIT_ON_FAILURE`, `BRISK_RATE_LIMIT_LOGIN_ON_FAILURE`,
//! `BRISK_RATE_LIMIT_SCALE`, `BRISK_RATE_LIMIT_BREAKER_MS`.
//!
//! A limit string that does not parse stops start-up with the string quoted.

use crate::ratelimit::limits::{parse_limits, LimitParseError, Rate};
use crate::ratelimit::policy::{parse_route_rule, FailurePolicy, KeyBy, PolicySpec, RouteRule};
use actix_web::http::Method;
use clap::Args;
use std::time::Duration;

pub const DEFAULT_FREE: &str = "60 per minute";
pub const DEFAULT_PRO: &str = "600 per minute";
pub const DEFAULT_ENTERPRISE: &str = "6000 per minute";
pub const DEFAULT_LOGIN: &str = "5 per minute";
pub const DEFAULT_EXPORT: &str = "1 per day";
pub const DEFAULT_BREAKER_MS: u64 = 1000;

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
    /// Extra or replacing route limit, repeatable:
    /// `"GET /api/search = 10 per second; 100 per minute [by ip|tenant|user|key] [on-failure allow|deny|local]"`.
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
    /// When Redis fails: policy of routes not keyed by client IP (plan limit, export).
    #[arg(long, env = "BRISK_RATE_LIMIT_ON_FAILURE", value_enum, default_value_t = FailurePolicy::Allow)]
    pub rate_limit_on_failure: FailurePolicy,
    /// When Redis fails: policy of routes keyed by client IP (login).
    #[arg(long, env = "BRISK_RATE_LIMIT_LOGIN_ON_FAILURE", value_enum, default_value_t = FailurePolicy::Local)]
    pub rate_limit_login_on_failure: FailurePolicy,
    /// Multiplies every limit's count (benches); 1 in production.
    #[arg(long, env = "BRISK_RATE_LIMIT_SCALE", default_value_t = 1.0, value_parser = scale)]
    pub rate_limit_scale: f64,
    /// Milliseconds after a Redis error during which decisions are local, before Redis is tried again.
    #[arg(long, env = "BRISK_RATE_LIMIT_BREAKER_MS", default_value_t = DEFAULT_BREAKER_MS, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub rate_limit_breaker_ms: u64,
}

impl RateLimitArgs {
    /// The breaker window.
    pub fn breaker(&self) -> Duration {
        Duration::from_millis(self.rate_limit_breaker_ms)
    }

    /// The policy these settings describe: login and export rules first, then the
    /// `--rate-limit-route` rules (a later rule for the same route replaces an earlier one).
    pub fn policy_spec(&self) -> PolicySpec {
        let mut routes = vec![
            RouteRule {
                method: Method::POST,
                pattern: "/api/login".into(),
                rates: self.rate_limit_login.0.clone(),
                key: KeyBy::Ip,
                on_failure: None,
            },
            RouteRule {
                method: Method::GET,
                pattern: "/api/export.csv".into(),
                rates: self.rate_limit_export.0.clone(),
                key: KeyBy::Tenant,
                on_failure: None,
            },
        ];
        routes.extend(self.rate_limit_routes.iter().cloned());
        let exempt = self.rate_limit_exempt.clone();
        PolicySpec {
            free: self.rate_limit_free.0.clone(),
            pro: self.rate_limit_pro.0.clone(),
            enterprise: self.rate_limit_enterprise.0.clone(),
            routes,
            exempt,
            on_failure: self.rate_limit_on_failure,
            ip_on_failure: self.rate_limit_login_on_failure,
            scale: self.rate_limit_scale,
            disabled: self.rate_limit_disabled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: RateLimitArgs,
    }

    #[test]
    fn defaults_match_the_api_contract() {
        let w = Wrapper::try_parse_from(["brisk"]).unwrap();
        let spec = w.args.policy_spec();
        assert_eq!(spec.free, parse_limits("60 per minute").unwrap());
        assert_eq!(spec.enterprise, parse_limits("6000 per minute").unwrap());
        assert_eq!(spec.routes.len(), 2);
        assert_eq!(spec.on_failure, FailurePolicy::Allow);
        assert_eq!(spec.ip_on_failure, FailurePolicy::Local);
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
    fn route_rules_and_exemptions_are_repeatable() {
        let w = Wrapper::try_parse_from([
            "brisk",
            "--rate-limit-route",
            "GET /api/search = 10 per second by key",
            "--rate-limit-route",
            "POST /api/login = 3 per minute by ip on-failure deny",
            "--rate-limit-exempt",
            "GET /api/catalog,/api/dashboard",
        ])
        .unwrap();
        let spec = w.args.policy_spec();
        assert_eq!(spec.routes.len(), 4);
        assert_eq!(spec.exempt, ["GET /api/catalog", "/api/dashboard"]);
    }
}
