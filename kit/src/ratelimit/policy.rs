//! Which limits apply to a request: the tenant's plan limit (one bucket per tenant
//! across all its routes), the route's own limits keyed by a key function (client IP,
//! tenant, user, API key), exempt routes, and the failure policy of the route's class.
//!
//! A request is limited by its caller's plan (only requests that carry a caller, i.e.
//! the routes the application protects) and by its route's own rules; a route with
//! neither (`/health`, `/metrics`, ...) costs one set look-up. Exempt routes are never
//! limited.

use super::client_ip::limit_key;
use super::config::RateLimitConfig;
use super::limits::{Rate, Strategy};
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

    /// The Redis hash-tag body (`t7`, `ip203.0.113.9`) and the identity segment of the key.
    ///
    /// Tenant, user and API-key identities share the tenant's tag `{t<id>}`, so every key
    /// of an authenticated request lives on one Redis Cluster slot. An IP has its own tag
    /// `{ip<addr>}`: login (no tenant) touches only IP keys. A request mixing both (an
    /// IP-keyed limit on an authenticated route) spans two slots: fine on a single Redis
    /// or Sentinel primary (brisk's target), refused by Redis Cluster (CROSSSLOT).
    pub fn key_parts(&self) -> (String, String) {
        match self {
            Identity::Ip(ip) => (format!("ip{ip}"), "ip".into()),
            Identity::Tenant(t) => (format!("t{t}"), "tenant".into()),
            Identity::User { tenant_id, user_id } => {
                (format!("t{tenant_id}"), format!("u{user_id}"))
            }
            Identity::ApiKey { tenant_id, key_id } => {
                (format!("t{tenant_id}"), format!("k{key_id}"))
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
    /// Where its state lives:
    /// `<prefix>:v1:rl:{tag}:<scope>:<id>:<count>/<period_ms>[:swc|:fw|:gcra]` (the strategy).
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
    /// Patterns that carry a rule, so a request on a route without one skips building
    /// a `(Method, String)` key.
    ruled_patterns: HashSet<String>,
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
        let ruled_patterns = routes.keys().map(|(_, p)| p.clone()).collect();
        let policy = Self {
            plans,
            ruled_patterns,
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

    /// One line per route limit that no request can ever be charged: an exempt route
    /// is never limited. (Which routes carry a caller is the
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
                    "route limit {} never applies: {} {} is exempt",
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

    /// The limits in force, one label set each (`brisk_ratelimit_limit_info`): every
    /// plan's rates (`rate="none"` for a plan without one), every route limit, the
    /// failed-authentication limit, every exempt route; one `kind="disabled"` set
    /// when limiting is off.
    pub fn info_series(&self) -> Vec<Vec<(&'static str, String)>> {
        if self.disabled {
            return vec![vec![("kind", "disabled".into())]];
        }
        let mut series = Vec::new();
        let mut plans: Vec<_> = self.plans.iter().collect();
        plans.sort_by_key(|(plan, _)| plan.as_str());
        for (plan, rates) in plans {
            let rates: Vec<String> = match rates.is_empty() {
                true => vec!["none".into()],
                false => rates.iter().map(Rate::to_string).collect(),
            };
            for rate in rates {
                let plan = ("plan", plan.as_str().to_string());
                series.push(vec![
                    ("kind", "plan".into()),
                    plan,
                    ("rate", rate),
                    ("key", "tenant".into()),
                ]);
            }
        }
        let mut rules: Vec<&RouteRule> = self.rules().collect();
        rules.sort_by(|a, b| (&a.pattern, a.method.as_str()).cmp(&(&b.pattern, b.method.as_str())));
        for rule in rules {
            for rate in &rule.rates {
                series.push(vec![
                    ("kind", "route".into()),
                    ("method", rule.method.to_string()),
                    ("route", rule.pattern.clone()),
                    ("rate", rate.to_string()),
                    ("key", key_name(rule.key).into()),
                ]);
            }
        }
        for rate in &self.auth_failures {
            series.push(vec![
                ("kind", "auth_failures".into()),
                ("rate", rate.to_string()),
                ("key", "ip".into()),
            ]);
        }
        let mut exempt: Vec<_> = self.exempt.iter().collect();
        exempt.sort_by(|a, b| {
            (&a.1, a.0.as_ref().map(Method::as_str)).cmp(&(&b.1, b.0.as_ref().map(Method::as_str)))
        });
        for (method, route) in exempt {
            let method = method.as_ref().map_or("any", Method::as_str).to_string();
            series.push(vec![
                ("kind", "exempt".into()),
                ("method", method),
                ("route", route.clone()),
            ]);
        }
        series
    }

    /// The failed-authentication limits of a client address (`None`: not limited).
    /// Keyed by the address as [`limit_key`] counts it (an IPv6 client by its /64),
    /// decided by the IP-keyed failure policy when Redis fails.
    pub fn auth_failure_limits(&self, prefix: &str, ip: IpAddr) -> Option<RequestLimits> {
        if self.disabled || self.auth_failures.is_empty() {
            return None;
        }
        let (tag, id) = Identity::Ip(limit_key(ip)).key_parts();
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

    /// True when the route is never limited: limiting is off, or the route is listed
    /// exempt.
    pub fn is_exempt(&self, method: &Method, pattern: &str) -> bool {
        if self.disabled {
            return true;
        }
        // Most deployments list no exempt route: no key is built for them.
        !self.exempt.is_empty()
            && (self.exempt.contains(&(None, pattern.to_string()))
                || self
                    .exempt
                    .contains(&(Some(method.clone()), pattern.to_string())))
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
        let rule = if self.ruled_patterns.contains(pattern) {
            self.routes.get(&(method.clone(), pattern.to_string()))
        } else {
            None
        };
        if let Some(c) = rule {
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

/// A route limit as written: `"GET /v1/orders = 10 per minute by user"`.
pub fn describe(rule: &RouteRule) -> String {
    let rates: Vec<String> = rule.rates.iter().map(Rate::to_string).collect();
    let key = key_name(rule.key);
    format!(
        "\"{} {} = {} by {key}\"",
        rule.method,
        rule.pattern,
        rates.join("; ")
    )
}

/// How a route limit names whose bucket it charges.
fn key_name(key: KeyBy) -> &'static str {
    match key {
        KeyBy::Ip => "ip",
        KeyBy::Tenant => "tenant",
        KeyBy::User => "user",
        KeyBy::ApiKey => "key",
    }
}

/// A limit's key names its strategy (`moving-window`, the old exact log, keeps its
/// old name): a key always holds one shape of state (a list or a hash), so processes of
/// two versions during a rolling upgrade never meet WRONGTYPE, they count apart.
fn key(prefix: &str, tag: &str, scope: &str, id: &str, rate: &Rate) -> String {
    let suffix = match rate.strategy {
        Strategy::MovingWindow => "",
        Strategy::SlidingWindowCounter => ":swc",
        Strategy::FixedWindow => ":fw",
        Strategy::Gcra => ":gcra",
    };
    let rest = format!("{scope}:{id}:{}/{}{suffix}", rate.count, rate.period_ms());
    crate::redis::keys::key(prefix, "rl", tag, &rest)
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
