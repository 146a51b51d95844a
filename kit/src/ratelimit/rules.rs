//! The vocabulary of a route limit and its text form: whose bucket a limit charges
//! ([`KeyBy`]), what happens when the store cannot decide ([`FailurePolicy`]), and
//! [`RouteRule`] parsed from `"GET /v1/search = 10 per second by key on-failure deny"`.

use super::limits::{parse_limits, Rate};
use actix_web::http::Method;
use std::fmt;
use std::str::FromStr;

/// What a request gets when the shared store (Redis) cannot decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Let the request through (counted as decided without the store).
    Allow,
    /// Refuse with 429 and `Retry-After` (never a 5xx).
    Deny,
    /// Keep limiting in-process, each process taking `limit / processes`.
    Local,
}

impl FailurePolicy {
    /// Every policy, in the order their names are listed.
    pub const ALL: [FailurePolicy; 3] = [
        FailurePolicy::Allow,
        FailurePolicy::Deny,
        FailurePolicy::Local,
    ];

    /// The policy's name as written in settings (`allow`, `deny`, `local`).
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Allow => "allow",
            FailurePolicy::Deny => "deny",
            FailurePolicy::Local => "local",
        }
    }
}

impl fmt::Display for FailurePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailurePolicy {
    type Err = String;
    /// Case-insensitive: `allow`, `deny` or `local`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown failure policy {s:?}"))
    }
}

/// Whose bucket a route limit charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyBy {
    /// The client address (after trusted proxy hops).
    Ip,
    /// The authenticated tenant.
    Tenant,
    /// The authenticated user: a request whose caller names no user (API keys name
    /// none) is not charged by a user-keyed limit.
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

/// A route's own limits: `POST /v1/login = 5 per minute by ip`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteRule {
    /// The method the rule applies to.
    pub method: Method,
    /// The route pattern as registered (`/v1/products/{id}`).
    pub pattern: String,
    /// Every rate the route must stay under.
    pub rates: Vec<Rate>,
    /// Whose bucket the rates charge.
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
            FailurePolicy::from_str(&value)
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

/// Parses `"POST /v1/login"` into its method and pattern.
pub(super) fn parse_route(raw: &str) -> Result<(Method, String), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_rules_parse_with_key_and_failure_policy() {
        let r =
            parse_route_rule("get /v1/search = 10 per second; 100/minute by key on-failure deny")
                .unwrap();
        assert_eq!(r.method, Method::GET);
        assert_eq!(r.pattern, "/v1/search");
        assert_eq!(r.rates.len(), 2);
        assert_eq!(r.key, KeyBy::ApiKey);
        assert_eq!(r.on_failure, Some(FailurePolicy::Deny));
        let r = parse_route_rule("POST /v1/orders=30/minute").unwrap();
        assert_eq!(r.key, KeyBy::Tenant);
        assert_eq!(r.on_failure, None);
        for bad in [
            "/v1/x = 5 per minute",
            "GET /v1/x",
            "GET /v1/x = lots",
            "GET /v1/x = 5 per minute by planet",
            "GET /v1/x = 5 per minute on-failure maybe",
        ] {
            assert!(parse_route_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn failure_policies_parse_case_insensitively_and_print_as_they_parse() {
        for p in FailurePolicy::ALL {
            assert_eq!(p.to_string().parse::<FailurePolicy>(), Ok(p));
            assert_eq!(p.as_str().to_uppercase().parse::<FailurePolicy>(), Ok(p));
        }
        assert!("maybe".parse::<FailurePolicy>().is_err());
    }
}
