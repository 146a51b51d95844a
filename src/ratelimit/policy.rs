//! Which limits apply to a request: the tenant's plan limit (one bucket per tenant
//! across all its routes), the route's own limits keyed by a key function (client IP,
//! tenant, user, API key), exempt routes, and the failure policy of the route's class.
//!
//! Only `/api/...` routes are limited; everything else (`/health`, `/ready`,
//! `/metrics`, `/dashboard`, ...) is exempt, as are the routes listed with
//! `--rate-limit-exempt`.

use super::limits::{parse_limits, Rate};
use crate::caller::AuthContext;
use crate::domain::types::Plan;
use actix_web::http::Method;
use clap::ValueEnum;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

/// What a request gets when the shared store (Redis) cannot decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailurePolicy {
    /// Let the request through (counted as decided without the store).
    Allow,
    /// Refuse with 429 and `Retry-After` (never a 5xx).
    Deny,
    /// Keep limiting in-process, each process taking `limit / processes`.
    Local,
}

impl fmt::Display for FailurePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailurePolicy::Allow => "allow",
            FailurePolicy::Deny => "deny",
            FailurePolicy::Local => "local",
        })
    }
}

/// Whose bucket a route limit charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyBy {
    /// The client address (after trusted proxy hops).
    Ip,
    /// The authenticated tenant.
    Tenant,
    /// The authenticated user. Requests authenticate by API key today, which names no
    /// user, so a user-keyed limit does not apply yet (see [`Identity::resolve`]).
    User,
    /// The API key that authenticated the request.
    ApiKey,
}

impl FromStr for KeyBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ip" => Ok(KeyBy::Ip),
            "tenant" => Ok(KeyBy::Tenant),
            "user" => Ok(KeyBy::User),
            "key" | "api-key" | "api_key" => Ok(KeyBy::ApiKey),
            other => Err(format!(
                "unknown key {other:?} (expected ip, tenant, user or key)"
            )),
        }
    }
}

/// The identity one limit is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    Ip(IpAddr),
    Tenant(i64),
    User { tenant_id: i64, user_id: i64 },
    ApiKey { tenant_id: i64, key_id: i64 },
}

impl Identity {
    /// The identity `key` selects for a request, if the request has one.
    pub fn resolve(key: KeyBy, auth: Option<&AuthContext>, ip: IpAddr) -> Option<Identity> {
        match key {
            KeyBy::Ip => Some(Identity::Ip(ip)),
            KeyBy::Tenant => auth.map(|a| Identity::Tenant(a.tenant_id)),
            KeyBy::ApiKey => auth.map(|a| Identity::ApiKey {
                tenant_id: a.tenant_id,
                key_id: a.key_id,
            }),
            // `AuthContext` carries no user until users authenticate by token.
            KeyBy::User => None,
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

/// A route's own limits: `POST /api/login = 5 per minute by ip`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteRule {
    pub method: Method,
    /// The route pattern as registered (`/api/products/{id}`).
    pub pattern: String,
    pub rates: Vec<Rate>,
    pub key: KeyBy,
    /// Overrides the class default when set.
    pub on_failure: Option<FailurePolicy>,
}

impl RouteRule {
    /// The route's short name in `RateLimit-Policy` (`login`, `export.csv`).
    pub fn name(&self) -> String {
        let last = self
            .pattern
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("route");
        let clean: String = last
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            .collect();
        if clean.is_empty() {
            "route".into()
        } else {
            clean
        }
    }
}

/// Parses `"<METHOD> <pattern> = <limits> [by ip|tenant|user|key] [on-failure allow|deny|local]"`.
pub fn parse_route_rule(raw: &str) -> Result<RouteRule, String> {
    let (route, rest) = raw.split_once('=').ok_or_else(|| {
        format!("route limit {raw:?}: expected \"METHOD /pattern = 5 per minute [by ip]\"")
    })?;
    let (method, pattern) = parse_route(route).map_err(|e| format!("route limit {raw:?}: {e}"))?;
    let mut rest = rest.trim().to_string();
    let mut on_failure = None;
    if let Some(i) = rest.to_ascii_lowercase().find(" on-failure ") {
        let value = rest[i + " on-failure ".len()..].trim().to_string();
        on_failure = Some(
            FailurePolicy::from_str(&value, true)
                .map_err(|_| format!("route limit {raw:?}: unknown failure policy {value:?}"))?,
        );
        rest.truncate(i);
    }
    let mut key = KeyBy::Tenant;
    if let Some(i) = rest.to_ascii_lowercase().find(" by ") {
        key = rest[i + 4..]
            .parse()
            .map_err(|e| format!("route limit {raw:?}: {e}"))?;
        rest.truncate(i);
    }
    let rates = parse_limits(&rest).map_err(|e| format!("route limit {raw:?}: {e}"))?;
    Ok(RouteRule {
        method,
        pattern,
        rates,
        key,
        on_failure,
    })
}

/// Parses `"POST /api/login"` (or a bare pattern, any method: `None`).
fn parse_route(raw: &str) -> Result<(Method, String), String> {
    let mut it = raw.split_whitespace();
    let (m, p) = (it.next(), it.next());
    match (m, p, it.next()) {
        (Some(m), Some(p), None) if p.starts_with('/') => {
            let method = Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .map_err(|_| format!("bad method {m:?}"))?;
            Ok((method, p.to_string()))
        }
        _ => Err(format!(
            "expected \"METHOD /pattern\", got {:?}",
            raw.trim()
        )),
    }
}

/// One limit to check for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The policy name shown in `RateLimit-Policy` (`plan`, `login`).
    pub name: Arc<str>,
    pub rate: Rate,
    /// Where its state lives: `<prefix>:v1:rl:{tag}:<scope>:<id>:<count>/<period_ms>`.
    pub key: String,
}

/// Everything the limiter needs to decide one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLimits {
    pub checks: Vec<Check>,
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
    plans: HashMap<Plan, Vec<Rate>>,
    routes: HashMap<(Method, String), CompiledRule>,
    exempt: HashSet<(Option<Method>, String)>,
    on_failure: FailurePolicy,
    ip_on_failure: FailurePolicy,
    plan_names: Vec<Arc<str>>,
    disabled: bool,
}

/// The settings a [`Policy`] is built from (see `config::ratelimit`).
#[derive(Debug, Clone)]
pub struct PolicySpec {
    pub free: Vec<Rate>,
    pub pro: Vec<Rate>,
    pub enterprise: Vec<Rate>,
    /// Later rules for the same method and pattern replace earlier ones.
    pub routes: Vec<RouteRule>,
    /// `"METHOD /pattern"` or `"/pattern"` (every method).
    pub exempt: Vec<String>,
    /// Class default for routes not keyed by IP (the plan limit, export, ...).
    pub on_failure: FailurePolicy,
    /// Class default for IP-keyed routes (login: brute force must stay limited).
    pub ip_on_failure: FailurePolicy,
    /// Multiplies every count (benches); 1.0 in production.
    pub scale: f64,
    /// No route is limited (`--rate-limit-disabled`).
    pub disabled: bool,
}

impl PolicySpec {
    /// API.md's defaults: plans 60/600/6000 per minute, login 5 per minute per IP,
    /// export 1 per day per tenant; `local` on login failure, `allow` elsewhere.
    pub fn defaults() -> Self {
        let p = |s: &str| parse_limits(s).expect("built-in limit parses");
        Self {
            free: p("60 per minute"),
            pro: p("600 per minute"),
            enterprise: p("6000 per minute"),
            routes: vec![
                RouteRule {
                    method: Method::POST,
                    pattern: "/api/login".into(),
                    rates: p("5 per minute"),
                    key: KeyBy::Ip,
                    on_failure: None,
                },
                RouteRule {
                    method: Method::GET,
                    pattern: "/api/export.csv".into(),
                    rates: p("1 per day"),
                    key: KeyBy::Tenant,
                    on_failure: None,
                },
            ],
            exempt: Vec::new(),
            on_failure: FailurePolicy::Allow,
            ip_on_failure: FailurePolicy::Local,
            scale: 1.0,
            disabled: false,
        }
    }
}

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
    pub fn new(spec: PolicySpec) -> Result<Self, String> {
        let mut plans = HashMap::new();
        plans.insert(Plan::Free, dedup_scaled(&spec.free, spec.scale));
        plans.insert(Plan::Pro, dedup_scaled(&spec.pro, spec.scale));
        plans.insert(Plan::Enterprise, dedup_scaled(&spec.enterprise, spec.scale));
        let max_plan = plans.values().map(Vec::len).max().unwrap_or(1);
        let mut routes = HashMap::new();
        for rule in spec.routes {
            let mut rule = rule;
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
        let mut exempt = HashSet::new();
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
        Ok(Self {
            plans,
            routes,
            exempt,
            on_failure: spec.on_failure,
            ip_on_failure: spec.ip_on_failure,
            plan_names: names("plan", max_plan),
            disabled: spec.disabled,
        })
    }

    /// The plan limits of `plan` (after scaling).
    pub fn plan_rates(&self, plan: Plan) -> &[Rate] {
        self.plans.get(&plan).map_or(&[], Vec::as_slice)
    }

    /// The rule registered for a route, if any.
    pub fn route_rule(&self, method: &Method, pattern: &str) -> Option<&RouteRule> {
        self.routes
            .get(&(method.clone(), pattern.to_string()))
            .map(|c| &c.rule)
    }

    /// True when the route is never limited (non-`/api` or listed exempt).
    pub fn is_exempt(&self, method: &Method, pattern: &str) -> bool {
        self.disabled
            || !(pattern == "/api" || pattern.starts_with("/api/"))
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
    use std::time::Duration;

    fn auth(plan: Plan) -> AuthContext {
        AuthContext {
            tenant_id: 7,
            plan,
            key_id: 70,
        }
    }

    fn ip() -> IpAddr {
        "203.0.113.9".parse().unwrap()
    }

    fn policy() -> Policy {
        Policy::new(PolicySpec::defaults()).unwrap()
    }

    #[test]
    fn non_api_and_exempt_routes_have_no_limits() {
        let p = policy();
        for pat in ["/health", "/ready", "/metrics", "/dashboard"] {
            assert_eq!(
                p.limits_for("b", &Method::GET, pat, Some(&auth(Plan::Free)), ip()),
                None
            );
        }
        let mut spec = PolicySpec::defaults();
        spec.exempt = vec!["GET /api/catalog".into(), "/api/search".into()];
        let p = Policy::new(spec).unwrap();
        let a = auth(Plan::Free);
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
    fn an_authenticated_route_gets_its_tenant_plan_bucket() {
        let l = policy()
            .limits_for(
                "b",
                &Method::GET,
                "/api/products",
                Some(&auth(Plan::Pro)),
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
    fn export_adds_its_daily_limit_to_the_plan_limit() {
        let l = policy()
            .limits_for(
                "b",
                &Method::GET,
                "/api/export.csv",
                Some(&auth(Plan::Free)),
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
    fn route_rules_parse_with_key_and_failure_policy() {
        let r =
            parse_route_rule("get /api/search = 10 per second; 100/minute by key on-failure deny")
                .unwrap();
        assert_eq!(r.method, Method::GET);
        assert_eq!(r.pattern, "/api/search");
        assert_eq!(r.rates.len(), 2);
        assert_eq!(r.key, KeyBy::ApiKey);
        assert_eq!(r.on_failure, Some(FailurePolicy::Deny));
        let r = parse_route_rule("POST /api/orders=30/minute").unwrap();
        assert_eq!(r.key, KeyBy::Tenant);
        assert_eq!(r.on_failure, None);
        for bad in [
            "/api/x = 5 per minute",
            "GET /api/x",
            "GET /api/x = lots",
            "GET /api/x = 5 per minute by planet",
            "GET /api/x = 5 per minute on-failure maybe",
        ] {
            assert!(parse_route_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_user_keyed_limit_does_not_apply_until_requests_carry_a_user() {
        let mut spec = PolicySpec::defaults();
        spec.routes
            .push(parse_route_rule("GET /api/orders = 1 per minute by user").unwrap());
        let l = Policy::new(spec)
            .unwrap()
            .limits_for(
                "b",
                &Method::GET,
                "/api/orders",
                Some(&auth(Plan::Free)),
                ip(),
            )
            .unwrap();
        assert_eq!(l.checks.len(), 1, "plan only");
    }

    #[test]
    fn scale_multiplies_every_limit() {
        let mut spec = PolicySpec::defaults();
        spec.scale = 10.0;
        let p = Policy::new(spec).unwrap();
        assert_eq!(p.plan_rates(Plan::Free)[0].count, 600);
        assert_eq!(
            p.route_rule(&Method::POST, "/api/login").unwrap().rates[0].count,
            50
        );
    }
}
