//! Which limits a request gets: plans, route rules, exemptions, failure policies.

use super::*;
use crate::caller::PlanName;

/// Plans of this test's own (the kit names none).
const PLAN_BASIC: PlanName = PlanName("basic");
const PLAN_TEAM: PlanName = PlanName("team");

use crate::ratelimit::limits::parse_limits;
use crate::ratelimit::rules::parse_route_rule;
use std::time::Duration;

fn auth(plan: PlanName) -> AuthContext {
    AuthContext {
        tenant_id: 7,
        plan,
        key_id: 70,
        user_id: None,
    }
}

fn ip() -> IpAddr {
    "203.0.113.9".parse().unwrap()
}

/// The kit's defaults with two plans and two route rules of this test's own.
fn spec() -> RateLimitConfig {
    let mut spec = RateLimitConfig::default()
        .with_plan(PLAN_BASIC, parse_limits("60 per minute").unwrap())
        .with_plan(PLAN_TEAM, parse_limits("600 per minute").unwrap());
    spec.routes = vec![
        parse_route_rule("POST /api/login = 5 per minute by ip").unwrap(),
        parse_route_rule("GET /api/export.csv = 1 per day by tenant on-failure local").unwrap(),
    ];
    spec
}

fn policy() -> Policy {
    Policy::new(&spec()).unwrap()
}

#[test]
fn routes_without_a_caller_or_a_rule_and_exempt_routes_have_no_limits() {
    let p = policy();
    for pat in [
        "/health",
        "/ready",
        "/metrics",
        "/dashboard",
        "/api/catalog",
    ] {
        assert_eq!(p.limits_for("b", &Method::GET, pat, None, ip()), None);
    }
    let spec = RateLimitConfig {
        exempt: vec!["GET /api/catalog".into(), "/api/search".into()],
        ..spec()
    };
    let p = Policy::new(&spec).unwrap();
    let a = auth(PLAN_BASIC);
    assert!(p
        .limits_for("b", &Method::GET, "/api/catalog", Some(&a), ip())
        .is_none());
    assert!(p
        .limits_for("b", &Method::PUT, "/api/catalog", Some(&a), ip())
        .is_some());
    assert!(p
        .limits_for("b", &Method::GET, "/api/search", Some(&a), ip())
        .is_none());
}

#[test]
fn an_exempt_entry_that_does_not_parse_is_refused() {
    let spec = RateLimitConfig {
        exempt: vec!["GET".into()],
        ..spec()
    };
    let err = Policy::new(&spec).unwrap_err();
    assert!(err.starts_with("exempt route: "), "{err}");
}

#[test]
fn an_authenticated_route_gets_its_tenant_plan_bucket() {
    let l = policy()
        .limits_for(
            "b",
            &Method::GET,
            "/api/products",
            Some(&auth(PLAN_TEAM)),
            ip(),
        )
        .unwrap();
    assert_eq!(l.checks.len(), 1);
    assert_eq!(&*l.checks[0].name, "plan");
    assert_eq!(l.checks[0].rate, Rate::new(600, Duration::from_secs(60)));
    assert_eq!(l.checks[0].key, "b:v1:rl:{t7}:plan:tenant:600/60000:swc");
    assert_eq!(l.on_failure, FailurePolicy::Allow);
}

#[test]
fn a_plan_the_application_declares_gets_its_limits_and_an_undeclared_one_none() {
    let team = PlanName("team");
    let spec = spec().with_plan(team, parse_limits("7/minute").unwrap());
    let p = Policy::new(&spec).unwrap();
    let l = p
        .limits_for("b", &Method::GET, "/api/products", Some(&auth(team)), ip())
        .unwrap();
    assert_eq!(l.checks[0].key, "b:v1:rl:{t7}:plan:tenant:7/60000:swc");
    let unknown = auth(PlanName("nobody-declared-me"));
    assert!(p
        .limits_for("b", &Method::GET, "/api/products", Some(&unknown), ip())
        .is_none());
}

#[test]
fn login_is_limited_per_client_ip_with_the_local_failure_policy() {
    let l = policy()
        .limits_for("b", &Method::POST, "/api/login", None, ip())
        .unwrap();
    assert_eq!(l.checks.len(), 1);
    assert_eq!(&*l.checks[0].name, "login");
    assert_eq!(
        l.checks[0].key,
        "b:v1:rl:{ip203.0.113.9}:r:POST:/api/login:ip:5/60000:swc"
    );
    assert_eq!(l.on_failure, FailurePolicy::Local);
    // Another method on the same pattern has no rule and no tenant: nothing applies.
    assert!(policy()
        .limits_for("b", &Method::GET, "/api/login", None, ip())
        .is_none());
}

#[test]
fn ip_limits_key_ipv6_clients_by_their_64_and_mapped_ipv4_as_ipv4() {
    let key = |addr: &str| {
        policy()
            .limits_for(
                "b",
                &Method::POST,
                "/api/login",
                None,
                addr.parse().unwrap(),
            )
            .unwrap()
            .checks[0]
            .key
            .clone()
    };
    assert_eq!(key("2001:db8:7:8::1"), key("2001:db8:7:8:ffff::9"));
    assert_eq!(
        key("2001:db8:7:8::1"),
        "b:v1:rl:{ip2001:db8:7:8::}:r:POST:/api/login:ip:5/60000:swc"
    );
    assert_ne!(key("2001:db8:7:8::1"), key("2001:db8:7:9::1"));
    assert_eq!(key("::ffff:203.0.113.9"), key("203.0.113.9"));
}

#[test]
fn export_adds_its_daily_limit_to_the_plan_limit() {
    let l = policy()
        .limits_for(
            "b",
            &Method::GET,
            "/api/export.csv",
            Some(&auth(PLAN_BASIC)),
            ip(),
        )
        .unwrap();
    let names: Vec<&str> = l.checks.iter().map(|c| &*c.name).collect();
    assert_eq!(names, ["plan", "export.csv"]);
    assert_eq!(
        l.checks[1].key,
        "b:v1:rl:{t7}:r:GET:/api/export.csv:tenant:1/86400000:swc"
    );
}

#[test]
fn a_user_keyed_limit_keys_on_the_user_or_else_on_the_api_key() {
    let mut spec = spec();
    spec.routes
        .push(parse_route_rule("GET /api/orders = 1 per minute by user").unwrap());
    let p = Policy::new(&spec).unwrap();
    let l = p
        .limits_for(
            "b",
            &Method::GET,
            "/api/orders",
            Some(&auth(PLAN_BASIC)),
            ip(),
        )
        .unwrap();
    assert_eq!(
        l.checks.len(),
        2,
        "a caller without a user is keyed by its API key"
    );
    assert_eq!(
        l.checks[1].key,
        "b:v1:rl:{t7}:r:GET:/api/orders:k70:1/60000:swc"
    );
    let user = AuthContext {
        user_id: Some(3),
        ..auth(PLAN_BASIC)
    };
    let l = p
        .limits_for("b", &Method::GET, "/api/orders", Some(&user), ip())
        .unwrap();
    assert_eq!(l.checks.len(), 2);
    assert_eq!(
        l.checks[1].key,
        "b:v1:rl:{t7}:r:GET:/api/orders:u3:1/60000:swc"
    );
}

#[test]
fn a_route_limit_that_can_never_apply_is_refused_with_one_line_naming_it() {
    // A rule outside /api is limited wherever it is mounted (the kit's own
    // applications use that); an exempt route's rule can never apply.
    for (rule, exempt) in [
        (
            "GET /api/catalog = 5 per minute",
            vec!["/api/catalog".to_string()],
        ),
        (
            "GET /api/search = 5 per minute",
            vec!["GET /api/search".to_string()],
        ),
    ] {
        let mut spec = RateLimitConfig { exempt, ..spec() };
        spec.routes.push(parse_route_rule(rule).unwrap());
        let err = Policy::new(&spec).unwrap_err();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains(&format!("\"{rule} by tenant\"")), "{err}");
        assert!(err.contains("never applies"), "{err}");
        spec.disabled = true;
        assert!(Policy::new(&spec).is_ok(), "nothing applies when disabled");
    }
}

#[test]
fn failed_authentications_are_limited_per_address_with_the_ip_policy() {
    let l = policy().auth_failure_limits("b", ip()).unwrap();
    assert_eq!(l.checks.len(), 1);
    assert_eq!(&*l.checks[0].name, "auth-failures");
    assert_eq!(
        l.checks[0].key,
        "b:v1:rl:{ip203.0.113.9}:authfail:ip:30/60000:swc"
    );
    assert_eq!(l.on_failure, FailurePolicy::Local);
    let off = RateLimitConfig {
        auth_failures: Vec::new(),
        ..spec()
    };
    assert!(Policy::new(&off)
        .unwrap()
        .auth_failure_limits("b", ip())
        .is_none());
}

#[test]
fn scale_multiplies_every_limit() {
    let spec = RateLimitConfig {
        scale: 10.0,
        ..spec()
    };
    let p = Policy::new(&spec).unwrap();
    assert_eq!(p.plan_rates(PLAN_BASIC)[0].count, 600);
    assert_eq!(
        p.route_rule(&Method::POST, "/api/login").unwrap().rates[0].count,
        50
    );
}

#[test]
fn the_info_series_name_every_plan_route_limit_and_exempt_route() {
    let spec = RateLimitConfig {
        exempt: vec!["GET /api/catalog".into()],
        ..spec()
    };
    let series = Policy::new(&spec).unwrap().info_series();
    let has = |want: &[(&str, &str)]| {
        series.iter().any(|s| {
            s.len() == want.len()
                && want
                    .iter()
                    .all(|(k, v)| s.iter().any(|(sk, sv)| sk == k && sv == v))
        })
    };
    let basic = [
        ("kind", "plan"),
        ("plan", "basic"),
        ("rate", "60 per minute"),
        ("key", "tenant"),
    ];
    assert!(has(&basic), "{series:?}");
    let login = [
        ("kind", "route"),
        ("method", "POST"),
        ("route", "/api/login"),
        ("rate", "5 per minute"),
        ("key", "ip"),
    ];
    assert!(has(&login), "{series:?}");
    let exempt = [
        ("kind", "exempt"),
        ("method", "GET"),
        ("route", "/api/catalog"),
    ];
    assert!(has(&exempt), "{series:?}");
    let off = RateLimitConfig {
        disabled: true,
        ..spec
    };
    let series = Policy::new(&off).unwrap().info_series();
    assert_eq!(series, vec![vec![("kind", "disabled".to_string())]]);
}
