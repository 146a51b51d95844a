//! Which limits apply to a request: the tenant's plan limit (one bucket per tenant
//! across all its routes), the route's own limits keyed by a key function (client IP,
//! tenant, user, API key), exempt routes, and the failure policy of the route's class.
//!
//! Only `/api/...` routes are limited; everything else (`/health`, `/ready`,
//! `/metrics`, `/dashboard`, ...) is exempt, as are the routes listed with
//! `--rate-limit-exempt`.

use super::client_ip::limit_key;
use super::config::RateLimitConfig;
use super::limits::Rate;
use super::rules::{parse_route, FailurePolicy, KeyBy, RouteRule};
use crate::caller::{AuthContext, PlanName};
use actix_web::http::Method;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

/// The identity one limit is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The client address, as [`limit_key`] counts it (IPv6 by its /64).
    Ip(IpAddr),
    /// The tenant.
    Tenant(i64),
    /// A user of a tenant.
    User {
        /// The user's tenant (its Redis hash tag).
        tenant_id: i64,
        /// The user.
        user_id: i64,
    },
    /// An API key of a tenant.
    ApiKey {
        /// The key's tenant (its Redis hash tag).
        tenant_id: i64,
        /// The key.
        key_id: i64,
    },
}

impl Identity {
    /// The identity `key` selects for a request, if the request has one.
    pub fn resolve(key: KeyBy, auth: Option<&AuthContext>, ip: IpAddr) -> Option<Identity> {
        match key {
            KeyBy::Ip => Some(Identity::Ip(limit_key(ip))),
            KeyBy::Tenant => auth.map(|a| Identity::Tenant(a.tenant_id)),
            KeyBy::ApiKey => auth.map(|a| Identity::ApiKey {
                tenant_id: a.tenant_id,
                key_id: a.key_id,
            }),
            // A caller that names no user (a plain API key) is charged by its key.
            KeyBy::User => auth.map(|a| match a.user_id {
                Some(user_id) => Identity::User {
                    tenant_id: a.tenant_id,
                    user_id,
                },
                None => Identity::ApiKey {
                    tenant_id: a.tenant_id,
                    key_id: a.key_id,
                },
            }),
        }
    }

    /// The Redis hash tag and the identity segment of the key.
    ///
    /// Tenant, user and API-key identities share the tenant's tag `{t<id>}`, so every key
    /// of an authenticated request lives on one Redis Cluster slot. An IP has its own tag
    /// `{ip<addr>}`: login (no tenant) touches only IP keys. A request mixing both (an
    /// IP-keyed limit on an authenticated route) spans two slots: fine on a single Redis
    /// or Sentinel primary (brisk's target), refused by Redis Cluster (CROSSSLOT).
    pub fn key_parts(&self) -> (String, String) {
        match self {
            Identity::Ip(ip) => (format!("{{ip{ip}}}"), "ip".into()),
            Identity::Tenant(t) => (format!("{{t{t}}}"), "tenant".into()),
            Identity::User { tenant_id, user_id } => {
                (format!("{{t{tenant_id}}}"), format!("u{user_id}"))
            }
            Identity::ApiKey { tenant_id, key_id } => {
                (format!("{{t{tenant_id}}}"), format!("k{key_id}"))
            }
        }
    }
}

/// One limit to check for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The policy name shown in `RateLimit-Policy` (`plan`, `login`).
    pub name: Arc<str>,
    /// The rate to stay under.
    pub rate: Rate,
    /// Where its state lives: `<prefix>:v1:rl:{tag}:<scope>:<id>:<count>/<period_ms>`.
    pub key: String,
}

/// Everything the limiter needs to decide one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLimits {
    /// Every limit of the request, in check order (the plan limit first).
    pub checks: Vec<Check>,
    /// What the request gets when the store cannot decide.
    pub on_failure: FailurePolicy,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    rule: RouteRule,
    names: Vec<Arc<str>>,
    scope: String,
}

/// The limits of a deployment, built once at start-up.
#[derive(Debug, Clone)]
pub struct Policy {
    plans: HashMap<PlanName, Vec<Rate>>,
    routes: HashMap<(Method, String), CompiledRule>,
    exempt: HashSet<(Option<Method>, String)>,
    on_failure: FailurePolicy,
    ip_on_failure: FailurePolicy,
    plan_names: Vec<Arc<str>>,
    auth_failures: Vec<Rate>,
    auth_failure_names: Vec<Arc<str>>,
    disabled: bool,
}

/// The name of the failed-authentication limit in `RateLimit-Policy` and 429 bodies.
pub const AUTH_FAILURES: &str = "auth-failures";

fn dedup_scaled(rates: &[Rate], scale: f64) -> Vec<Rate> {
    let mut out: Vec<Rate> = Vec::with_capacity(rates.len());
    for r in rates.iter().map(|r| r.scaled(scale)) {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

fn names(base: &str, n: usize) -> Vec<Arc<str>> {
    if n == 1 {
        vec![Arc::from(base)]
    } else {
        (1..=n).map(|i| Arc::from(format!("{base}-{i}"))).collect()
    }
}

impl Policy {
    /// Builds the policy; an exempt entry that does not parse is an error.
    pub fn new(spec: &RateLimitConfig) -> Result<Self, String> {
        let plans: HashMap<PlanName, Vec<Rate>> = spec
            .plans
            .iter()
            .map(|p| (p.plan, dedup_scaled(&p.rates, spec.scale)))
            .collect();
        let max_plan = plans.values().map(Vec::len).max().unwrap_or(1);
        let mut routes = HashMap::new();
        for rule in &spec.routes {
            let mut rule = rule.clone();
            rule.rates = dedup_scaled(&rule.rates, spec.scale);
            let scope = format!("r:{}:{}", rule.method, rule.pattern);
            let compiled = CompiledRule {
                names: names(&rule.name(), rule.rates.len()),
                scope,
                rule,
            };
            routes.insert(
                (compiled.rule.method.clone(), compiled.rule.pattern.clone()),
                compiled,
            );
        }
        let mut exempt: HashSet<(Option<Method>, String)> = HashSet::new();
        for raw in &spec.exempt {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            if raw.starts_with('/') {
                exempt.insert((None, raw.to_string()));
            } else {
                let (m, p) = parse_route(raw).map_err(|e| format!("exempt route: {e}"))?;
                exempt.insert((Some(m), p));
            }
        }
        let auth_failures = dedup_scaled(&spec.auth_failures, spec.scale);
        let policy = Self {
            plans,
            routes,
            exempt,
            on_failure: spec.on_failure,
            ip_on_failure: spec.ip_on_failure,
            plan_names: names("plan", max_plan),
            auth_failure_names: names(AUTH_FAILURES, auth_failures.len()),
            auth_failures,
            disabled: spec.disabled,
        };
        if let Some(line) = policy.rules_that_never_apply().into_iter().next() {
            return Err(line);
        }
        Ok(policy)
    }

    /// One line per route limit that no request can ever be charged: a route outside
    /// `/api` or exempt is never limited. (Which routes carry a caller is the
    /// authentication's to say: see `http::middleware::auth::Protection`.)
    fn rules_that_never_apply(&self) -> Vec<String> {
        if self.disabled {
            return Vec::new();
        }
        let mut lines: Vec<String> = self
            .routes
            .values()
            .filter(|c| self.is_exempt(&c.rule.method, &c.rule.pattern))
            .map(|c| {
                format!(
                    "route limit {} never applies: {} {} is not limited (outside /api or exempt)",
                    describe(&c.rule),
                    c.rule.method,
                    c.rule.pattern
                )
            })
            .collect();
        lines.sort();
        lines
    }

    /// Every route limit, in no particular order.
    pub fn rules(&self) -> impl Iterator<Item = &RouteRule> {
        self.routes.values().map(|c| &c.rule)
    }

    /// The failed-authentication limits of a client address (`None`: not limited).
    /// Keyed by the address as given (the caller normalizes it, e.g. an IPv6 /64),
    /// decided by the IP-keyed failure policy when Redis fails.
    pub fn auth_failure_limits(&self, prefix: &str, ip: IpAddr) -> Option<RequestLimits> {
        if self.disabled || self.auth_failures.is_empty() {
            return None;
        }
        let (tag, id) = Identity::Ip(ip).key_parts();
        let checks = self
            .auth_failures
            .iter()
            .zip(&self.auth_failure_names)
            .map(|(rate, name)| Check {
                name: name.clone(),
                rate: *rate,
                key: key(prefix, &tag, "authfail", &id, rate),
            })
            .collect();
        Some(RequestLimits {
            checks,
            on_failure: self.ip_on_failure,
        })
    }

    /// The plan limits of `plan` (after scaling).
    pub fn plan_rates(&self, plan: PlanName) -> &[Rate] {
        self.plans.get(&plan).map_or(&[], Vec::as_slice)
    }

    /// The rule registered for a route, if any.
    pub fn route_rule(&self, method: &Method, pattern: &str) -> Option<&RouteRule> {
        self.routes
            .get(&(method.clone(), pattern.to_string()))
            .map(|c| &c.rule)
    }

    /// True when the route is never limited: listed exempt, or outside `/api` with
    /// no rule of its own (a route given a rule is limited wherever it is mounted).
    pub fn is_exempt(&self, method: &Method, pattern: &str) -> bool {
        let under_api = pattern == "/api" || pattern.starts_with("/api/");
        self.disabled
            || (!under_api && self.route_rule(method, pattern).is_none())
            || self.exempt.contains(&(None, pattern.to_string()))
            || self
                .exempt
                .contains(&(Some(method.clone()), pattern.to_string()))
    }

    /// The limits of one request, or `None` when nothing applies.
    /// `pattern` is the matched route pattern; `prefix` is the Redis key prefix.
    pub fn limits_for(
        &self,
        prefix: &str,
        method: &Method,
        pattern: &str,
        auth: Option<&AuthContext>,
        ip: IpAddr,
    ) -> Option<RequestLimits> {
        if self.is_exempt(method, pattern) {
            return None;
        }
        let mut checks = Vec::new();
        if let Some(auth) = auth {
            let (tag, id) = Identity::Tenant(auth.tenant_id).key_parts();
            for (rate, name) in self.plan_rates(auth.plan).iter().zip(&self.plan_names) {
                checks.push(Check {
                    name: name.clone(),
                    rate: *rate,
                    key: key(prefix, &tag, "plan", &id, rate),
                });
            }
        }
        let mut on_failure = self.on_failure;
        if let Some(c) = self.routes.get(&(method.clone(), pattern.to_string())) {
            if let Some(identity) = Identity::resolve(c.rule.key, auth, ip) {
                let (tag, id) = identity.key_parts();
                for (rate, name) in c.rule.rates.iter().zip(&c.names) {
                    checks.push(Check {
                        name: name.clone(),
                        rate: *rate,
                        key: key(prefix, &tag, &c.scope, &id, rate),
                    });
                }
                on_failure = c.rule.on_failure.unwrap_or(if c.rule.key == KeyBy::Ip {
                    self.ip_on_failure
                } else {
                    self.on_failure
                });
            }
        }
        if checks.is_empty() {
            None
        } else {
            Some(RequestLimits { checks, on_failure })
        }
    }
}

/// A route limit as written: `"GET /api/orders = 10 per minute by user"`.
pub fn describe(rule: &RouteRule) -> String {
    let rates: Vec<String> = rule.rates.iter().map(Rate::to_string).collect();
    let key = match rule.key {
        KeyBy::Ip => "ip",
        KeyBy::Tenant => "tenant",
        KeyBy::User => "user",
        KeyBy::ApiKey => "key",
    };
    format!(
        "\"{} {} = {} by {key}\"",
        rule.method,
        rule.pattern,
        rates.join("; ")
    )
}

fn key(prefix: &str, tag: &str, scope: &str, id: &str, rate: &Rate) -> String {
    format!(
        "{prefix}:v1:rl:{tag}:{scope}:{id}:{}/{}",
        rate.count,
        rate.period_ms()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::config::{PLAN_FREE, PLAN_PRO};
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

    fn policy() -> Policy {
        Policy::new(&RateLimitConfig::default()).unwrap()
    }

    #[test]
    fn non_api_and_exempt_routes_have_no_limits() {
        let p = policy();
        for pat in ["/health", "/ready", "/metrics", "/dashboard"] {
            assert_eq!(
                p.limits_for("b", &Method::GET, pat, Some(&auth(PLAN_FREE)), ip()),
                None
            );
        }
        let spec = RateLimitConfig {
            exempt: vec!["GET /api/catalog".into(), "/api/search".into()],
            ..RateLimitConfig::default()
        };
        let p = Policy::new(&spec).unwrap();
        let a = auth(PLAN_FREE);
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
            ..RateLimitConfig::default()
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
                Some(&auth(PLAN_PRO)),
                ip(),
            )
            .unwrap();
        assert_eq!(l.checks.len(), 1);
        assert_eq!(&*l.checks[0].name, "plan");
        assert_eq!(l.checks[0].rate, Rate::new(600, Duration::from_secs(60)));
        assert_eq!(l.checks[0].key, "b:v1:rl:{t7}:plan:tenant:600/60000");
        assert_eq!(l.on_failure, FailurePolicy::Allow);
    }

    #[test]
    fn a_plan_the_application_declares_gets_its_limits_and_an_undeclared_one_none() {
        let team = PlanName("team");
        let spec = RateLimitConfig::default().with_plan(team, parse_limits("7/minute").unwrap());
        let p = Policy::new(&spec).unwrap();
        let l = p
            .limits_for("b", &Method::GET, "/api/products", Some(&auth(team)), ip())
            .unwrap();
        assert_eq!(l.checks[0].key, "b:v1:rl:{t7}:plan:tenant:7/60000");
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
            "b:v1:rl:{ip203.0.113.9}:r:POST:/api/login:ip:5/60000"
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
            "b:v1:rl:{ip2001:db8:7:8::}:r:POST:/api/login:ip:5/60000"
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
                Some(&auth(PLAN_FREE)),
                ip(),
            )
            .unwrap();
        let names: Vec<&str> = l.checks.iter().map(|c| &*c.name).collect();
        assert_eq!(names, ["plan", "export.csv"]);
        assert_eq!(
            l.checks[1].key,
            "b:v1:rl:{t7}:r:GET:/api/export.csv:tenant:1/86400000"
        );
    }

    #[test]
    fn a_user_keyed_limit_keys_on_the_user_or_else_on_the_api_key() {
        let mut spec = RateLimitConfig::default();
        spec.routes
            .push(parse_route_rule("GET /api/orders = 1 per minute by user").unwrap());
        let p = Policy::new(&spec).unwrap();
        let l = p
            .limits_for(
                "b",
                &Method::GET,
                "/api/orders",
                Some(&auth(PLAN_FREE)),
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
            "b:v1:rl:{t7}:r:GET:/api/orders:k70:1/60000"
        );
        let user = AuthContext {
            user_id: Some(3),
            ..auth(PLAN_FREE)
        };
        let l = p
            .limits_for("b", &Method::GET, "/api/orders", Some(&user), ip())
            .unwrap();
        assert_eq!(l.checks.len(), 2);
        assert_eq!(l.checks[1].key, "b:v1:rl:{t7}:r:GET:/api/orders:u3:1/60000");
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
            let mut spec = RateLimitConfig {
                exempt,
                ..RateLimitConfig::default()
            };
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
            "b:v1:rl:{ip203.0.113.9}:authfail:ip:30/60000"
        );
        assert_eq!(l.on_failure, FailurePolicy::Local);
        let off = RateLimitConfig {
            auth_failures: Vec::new(),
            ..RateLimitConfig::default()
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
            ..RateLimitConfig::default()
        };
        let p = Policy::new(&spec).unwrap();
        assert_eq!(p.plan_rates(PLAN_FREE)[0].count, 600);
        assert_eq!(
            p.route_rule(&Method::POST, "/api/login").unwrap().rates[0].count,
            50
        );
    }
}
