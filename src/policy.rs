//! The order API's rate-limit policy (API.md), declared to the kit through
//! [`brisk_kit::RateLimitConfig`]: plans `free`/`pro`/`enterprise` at 60/600/6000 per minute (one
//! bucket per tenant across all its routes), login 5 per minute per client address, and
//! the CSV export once a day per tenant, kept per process when Redis fails (each export
//! is a long scan). The kit's own defaults name no plan and no route.

use brisk_kit::actix_web::http::Method;
use brisk_kit::caller::PlanName;
use brisk_kit::ratelimit::limits::Rate;
use brisk_kit::{FailurePolicy, KeyBy, PlanLimits, RouteRule};

/// The plan of tenants that pay nothing.
pub const PLAN_FREE: PlanName = PlanName("free");
/// The paid plan.
pub const PLAN_PRO: PlanName = PlanName("pro");
/// The largest plan.
pub const PLAN_ENTERPRISE: PlanName = PlanName("enterprise");

/// Plan limit of [`PLAN_FREE`].
pub const DEFAULT_FREE: &str = "60 per minute";
/// Plan limit of [`PLAN_PRO`].
pub const DEFAULT_PRO: &str = "600 per minute";
/// Plan limit of [`PLAN_ENTERPRISE`].
pub const DEFAULT_ENTERPRISE: &str = "6000 per minute";

/// `POST /api/login`, limited per client address.
pub const LOGIN_ROUTE: (Method, &str) = (Method::POST, "/api/login");
/// Limit of [`LOGIN_ROUTE`] per client address.
pub const DEFAULT_LOGIN: &str = "5 per minute";
/// `GET /api/export.csv`, limited per tenant on top of the plan limit.
pub const EXPORT_ROUTE: (Method, &str) = (Method::GET, "/api/export.csv");
/// Limit of [`EXPORT_ROUTE`] per tenant.
pub const DEFAULT_EXPORT: &str = "1 per day";
/// Failure policy of [`EXPORT_ROUTE`]: each process keeps its share of the limit, so
/// an outage does not let every tenant run unlimited exports.
pub const DEFAULT_EXPORT_ON_FAILURE: FailurePolicy = FailurePolicy::Local;

/// The three plans with the given limits.
pub fn plans(free: Vec<Rate>, pro: Vec<Rate>, enterprise: Vec<Rate>) -> Vec<PlanLimits> {
    [
        (PLAN_FREE, free),
        (PLAN_PRO, pro),
        (PLAN_ENTERPRISE, enterprise),
    ]
    .into_iter()
    .map(|(plan, rates)| PlanLimits { plan, rates })
    .collect()
}

/// The login rule (per client address, its class's failure policy) and the export rule
/// (per tenant, `export_on_failure` when Redis fails).
pub fn route_rules(
    login: Vec<Rate>,
    export: Vec<Rate>,
    export_on_failure: FailurePolicy,
) -> Vec<RouteRule> {
    let rule = |(method, pattern): (Method, &str), rates, key, on_failure| RouteRule {
        method,
        pattern: pattern.into(),
        rates,
        key,
        on_failure,
    };
    vec![
        rule(LOGIN_ROUTE, login, KeyBy::Ip, None),
        rule(EXPORT_ROUTE, export, KeyBy::Tenant, Some(export_on_failure)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use brisk_kit::parse_limits;

    #[test]
    fn every_policy_limit_parses() {
        for s in [
            DEFAULT_FREE,
            DEFAULT_PRO,
            DEFAULT_ENTERPRISE,
            DEFAULT_LOGIN,
            DEFAULT_EXPORT,
        ] {
            assert!(parse_limits(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn the_routes_are_login_by_address_and_export_by_tenant() {
        let one = parse_limits("1 per day").unwrap();
        let rules = route_rules(one.clone(), one, FailurePolicy::Deny);
        let routes: Vec<_> = rules
            .iter()
            .map(|r| (r.method.as_str(), r.pattern.as_str(), r.key, r.on_failure))
            .collect();
        assert_eq!(
            routes,
            [
                ("POST", "/api/login", KeyBy::Ip, None),
                (
                    "GET",
                    "/api/export.csv",
                    KeyBy::Tenant,
                    Some(FailurePolicy::Deny)
                )
            ]
        );
    }
}
