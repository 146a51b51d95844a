//! The limits rows: defaults and route limits (the limits a process exports in
//! `brisk_ratelimit_limit_info`, held against the protected routes of its OpenAPI
//! document), and the three the login probe answers (login tightened, the real client
//! address, a kind 429).

use super::evidence::Evidence;
use super::probes::LoginProbe;
use super::report::{Row, Verdict};
use std::collections::{BTreeMap, BTreeSet};

/// (method, path) of every operation of the OpenAPI document that asks for a key.
fn protected_routes(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// The label sets of `brisk_ratelimit_limit_info`, once each (processes agree).
fn limit_series(e: &Evidence) -> BTreeSet<BTreeMap<String, String>> {
    e.samples
        .iter()
        .filter(|s| s.name == "brisk_ratelimit_limit_info")
        .map(|s| s.labels.clone().into_iter().collect())
        .collect()
}

/// One label of a limit series ("" when absent).
fn label(s: &BTreeMap<String, String>, key: &str) -> String {
    s.get(key).cloned().unwrap_or_default()
}

/// The limits in force as the row reads them.
struct Limits<'a> {
    series: &'a BTreeSet<BTreeMap<String, String>>,
}

impl Limits<'_> {
    fn of_kind(&self, kind: &str) -> Vec<&BTreeMap<String, String>> {
        self.series
            .iter()
            .filter(|s| label(s, "kind") == kind)
            .collect()
    }

    /// "plan rate" of every plan limit.
    fn plans(&self) -> Vec<String> {
        (self.of_kind("plan").iter())
            .map(|s| format!("{} {}", label(s, "plan"), label(s, "rate")))
            .collect()
    }

    /// Plans declared without a rate.
    fn unlimited_plans(&self) -> Vec<String> {
        (self.of_kind("plan").iter())
            .filter(|s| label(s, "rate") == "none")
            .map(|s| label(s, "plan"))
            .collect()
    }

    /// "METHOD route rate by key" of every route limit.
    fn routes(&self) -> Vec<String> {
        (self.of_kind("route").iter())
            .map(|s| {
                let (method, route) = (label(s, "method"), label(s, "route"));
                let (rate, key) = (label(s, "rate"), label(s, "key"));
                format!("{method} {route} {rate} by {key}")
            })
            .collect()
    }

    /// The `protected` routes an exempt entry takes out of every limit.
    fn exempt(&self, protected: &[(String, String)]) -> Vec<String> {
        let exempt = self.of_kind("exempt");
        (protected.iter())
            .filter(|(method, path)| {
                exempt.iter().any(|s| {
                    let m = label(s, "method");
                    label(s, "route") == *path && (m == "any" || m == *method)
                })
            })
            .map(|(method, path)| format!("{method} {path}"))
            .collect()
    }
}

/// `items` joined, or "none".
fn listed(items: &[String]) -> String {
    match items.is_empty() {
        true => "none".into(),
        false => items.join(", "),
    }
}

/// "defaults and route limits": a plan limit on every protected route.
pub fn route_limits(e: &Evidence) -> Row {
    let row = |v, ev| Row::new("limits", "defaults and route limits", v, ev);
    let series = limit_series(e);
    if series.is_empty() {
        return row(
            Verdict::Unknown,
            "brisk_ratelimit_limit_info is not in /metrics (a brisk older than this doctor)".into(),
        );
    }
    let limits = Limits { series: &series };
    if !limits.of_kind("disabled").is_empty() {
        return row(Verdict::Fail, "rate limiting is off".into())
            .fix("serve without --rate-limit-disabled");
    }
    let Ok(doc) = &e.openapi else {
        let why = "no /openapi.json to list the protected routes";
        return row(Verdict::Unknown, why.into());
    };
    let protected = protected_routes(doc);
    let (plans, unlimited) = (limits.plans(), limits.unlimited_plans());
    let exempt = limits.exempt(&protected);
    let evidence = format!(
        "{} protected route(s); plan limits: {}; route limits: {}",
        protected.len(),
        listed(&plans),
        listed(&limits.routes()),
    );
    let fix_plans = "give every plan a limit (the order API's --rate-limit-<plan>; KitConfig's ratelimit plans)";
    if !protected.is_empty() && plans.is_empty() {
        return row(Verdict::Fail, evidence).fix(fix_plans);
    }
    if !unlimited.is_empty() {
        let found = format!(
            "plan(s) without a limit: {}; {evidence}",
            unlimited.join(", ")
        );
        return row(Verdict::Fail, found).fix(fix_plans);
    }
    if !exempt.is_empty() {
        let found = format!(
            "protected route(s) exempt from every limit: {}; {evidence}",
            exempt.join(", ")
        );
        return row(Verdict::Fail, found)
            .fix("take protected routes off --rate-limit-exempt: a plan limit should cover them");
    }
    row(Verdict::Pass, evidence)
}

/// "login tightened", "real client address" and "429 answered kindly", from the
/// login probe.
pub fn login_rows(e: &Evidence) -> Vec<Row> {
    let tightened = |v, ev| Row::new("limits", "login tightened", v, ev);
    let address = |v, ev| Row::new("limits", "real client address", v, ev);
    let kindly = |v, ev| Row::new("limits", "429 answered kindly", v, ev);
    let probe: &LoginProbe = match &e.probes.login {
        None => {
            let off = "probes turned off (--no-probes)".to_string();
            return vec![
                tightened(Verdict::Unknown, off.clone()),
                address(Verdict::Unknown, off.clone()),
                kindly(Verdict::Unknown, off),
            ];
        }
        Some(Err(err)) => {
            let why = format!("login probe failed: {err}");
            return vec![
                tightened(Verdict::Unknown, why.clone()),
                address(Verdict::Unknown, why.clone()),
                kindly(Verdict::Unknown, why),
            ];
        }
        Some(Ok(p)) => p,
    };
    let Some(after) = probe.refused_after else {
        let why = "no 429 after the probe's failed logins".to_string();
        return vec![
            tightened(Verdict::Fail, why.clone())
                .fix("limit login per client address (e.g. 5 per minute)"),
            address(Verdict::Unknown, why.clone()),
            kindly(Verdict::Unknown, why),
        ];
    };
    let login = match after {
        // Refused at once: failed logins from this address within the limit's period
        // (an earlier doctor run's probe, say) are still counted.
        0 | 1 => tightened(
            Verdict::Pass,
            "429 at the first failed login: this address's earlier failures are still in the limit's window".into(),
        ),
        n => tightened(
            Verdict::Pass,
            format!("429 after {} failed logins from one address", n - 1),
        ),
    };
    let addr = match (probe.spoof_admitted, probe.second_address_refused) {
        (Some(true), _) => address(
            Verdict::Fail,
            "a spoofed X-Forwarded-For got a fresh bucket".into(),
        )
        .fix("set --trusted-hops to the number of proxies in front of brisk (0 without one)"),
        (_, Some(true)) => address(
            Verdict::Fail,
            "a second client address shared the first one's bucket: brisk sees the proxy's address"
                .into(),
        )
        .fix("set --trusted-hops 1 behind one proxy that appends X-Forwarded-For"),
        (Some(false), Some(false)) => address(
            Verdict::Pass,
            "spoofed X-Forwarded-For ignored; two client addresses, two buckets".into(),
        ),
        (Some(false), None) => address(
            Verdict::Unknown,
            "spoofing ignored; a second client address was not available (not on loopback)".into(),
        ),
        (None, _) => address(Verdict::Unknown, "the spoofing probe did not run".into()),
    };
    let kind = match probe.kind_429 {
        Some((true, true, true)) => kindly(
            Verdict::Pass,
            "JSON rate_limited body, Retry-After, X-RateLimit-*".into(),
        ),
        Some((json, retry, headers)) => kindly(
            Verdict::Fail,
            format!("JSON body {json}, Retry-After {retry}, X-RateLimit-* {headers}"),
        )
        .fix("answer 429 with the JSON error, Retry-After and the X-RateLimit-* headers"),
        None => kindly(Verdict::Unknown, "no 429 seen".into()),
    };
    vec![login, addr, kind]
}
