//! The cache rows: hit ratio, views against memoized calls (the cache events by
//! kind), invalidations (the generation bumps counted after writes), single-flight,
//! and HTTP caching (a cached route's ETag and 304, probed with an API key).

use super::evidence::Evidence;
use super::report::{Row, Verdict};
use crate::config::DoctorArgs;

/// The outcomes of a cache lookup (an error is a bypass, not a lookup).
const LOOKUPS: [&str; 4] = ["hit", "stale", "miss", "coalesced"];

/// "what is cached": the hit ratio over every lookup.
pub fn hit_ratio(e: &Evidence) -> Row {
    let row = |v, ev| Row::new("cache", "what is cached", v, ev);
    let count = |o| e.total_where("brisk_cache_events_total", "outcome", o);
    let (hit, stale, miss, coalesced) = (
        count("hit"),
        count("stale"),
        count("miss"),
        count("coalesced"),
    );
    let lookups = hit + stale + miss + coalesced;
    if lookups == 0.0 {
        return row(Verdict::Unknown, "no cache lookups recorded yet".into());
    }
    let ratio = 100.0 * (hit + stale) / lookups;
    row(Verdict::Pass, format!("hit ratio {ratio:.1} % ({hit} hits, {stale} stale, {miss} misses, {coalesced} coalesced)"))
}

/// "stampede": single-flight is built in; how many callers joined a miss.
pub fn stampede(e: &Evidence) -> Row {
    let row = |v, ev| Row::new("cache", "stampede", v, ev);
    let coalesced = e.total_where("brisk_cache_events_total", "outcome", "coalesced");
    let misses = e.total_where("brisk_cache_events_total", "outcome", "miss");
    if misses == 0.0 {
        return row(Verdict::Unknown, "no cache misses yet".into());
    }
    row(
        Verdict::Pass,
        format!("single-flight on (built in): {coalesced} callers joined one of {misses} misses"),
    )
}

/// Lookups of entries of `kind` (`view`, `memo`) and their hit ratio, percent.
fn lookups_of(e: &Evidence, kind: &str) -> (f64, f64) {
    let count = |outcome: &str| -> f64 {
        e.samples
            .iter()
            .filter(|s| {
                s.name == "brisk_cache_events_total"
                    && s.label("kind") == kind
                    && s.label("outcome") == outcome
            })
            .map(|s| s.value)
            .sum()
    };
    let all: f64 = LOOKUPS.iter().map(|o| count(o)).sum();
    let hits = count("hit") + count("stale");
    (all, 100.0 * hits / all.max(1.0))
}

/// "views and memoized calls": both kinds of entry in use.
pub fn views_and_memos(e: &Evidence) -> Row {
    let row = |v, ev| Row::new("cache", "views and memoized calls", v, ev);
    let split = e
        .samples
        .iter()
        .any(|s| s.name == "brisk_cache_events_total" && !s.label("kind").is_empty());
    if !split {
        return row(
            Verdict::Unknown,
            "brisk_cache_events_total has no kind label (a brisk older than this doctor)".into(),
        );
    }
    let ((views, view_ratio), (memos, memo_ratio)) = (lookups_of(e, "view"), lookups_of(e, "memo"));
    let evidence = format!(
        "cached views: {views} lookups (hit ratio {view_ratio:.1} %); memoized calls: {memos} lookups (hit ratio {memo_ratio:.1} %)"
    );
    match (views > 0.0, memos > 0.0) {
        (true, true) => row(Verdict::Pass, evidence),
        (false, false) => row(Verdict::Unknown, "no cache lookups recorded yet".into()),
        (true, false) => row(Verdict::Warn, evidence).fix(
            "memoize the expensive calls several routes share (Cache::memoize), not only whole responses",
        ),
        (false, true) => row(Verdict::Warn, evidence)
            .fix("cache whole responses of the hot read routes (Cache::view), not only calls"),
    }
}

/// Successful writes (POST, PUT, PATCH, DELETE answered 2xx), the login route aside.
fn writes(e: &Evidence, args: &DoctorArgs) -> f64 {
    e.samples
        .iter()
        .filter(|s| {
            s.name == "brisk_http_requests_total"
                && matches!(s.label("method"), "POST" | "PUT" | "PATCH" | "DELETE")
                && s.label("status") == "2xx"
                && s.label("route") != args.login_path
        })
        .map(|s| s.value)
        .sum()
}

/// "invalidation": generation bumps seen after the writes.
pub fn invalidation(e: &Evidence, args: &DoctorArgs) -> Row {
    let row = |v, ev| Row::new("cache", "invalidation", v, ev);
    if e.total("brisk_cache_invalidations_total").is_none() {
        return row(
            Verdict::Unknown,
            "brisk_cache_invalidations_total is not in /metrics (a brisk older than this doctor)"
                .into(),
        );
    }
    let count = |o| e.total_where("brisk_cache_invalidations_total", "outcome", o);
    let (applied, deferred, retried, dropped) = (
        count("applied"),
        count("deferred"),
        count("retried"),
        count("dropped"),
    );
    let writes = writes(e, args);
    let evidence = format!(
        "{} generation bump(s) after {writes} successful write(s): {applied} applied, {deferred} deferred to the retrier, {retried} retried, {dropped} dropped",
        applied + deferred
    );
    if dropped > 0.0 {
        return row(Verdict::Fail, evidence).fix(
            "find why Redis refused the bumps (its log, brisk_redis_command_duration_seconds): a dropped invalidation leaves old entries until their TTL",
        );
    }
    if deferred > retried {
        return row(Verdict::Warn, format!("{evidence}; some still pending"))
            .fix("Redis is failing the bumps: reads of those keys bypass the cache until the retries land");
    }
    if applied + deferred > 0.0 {
        return row(Verdict::Pass, evidence);
    }
    if writes > 0.0 {
        return row(Verdict::Warn, evidence).fix(
            "after each write's commit, bump what it changes (Cache::bump_namespace, Cache::delete_memo)",
        );
    }
    row(
        Verdict::Unknown,
        "no writes yet, so no invalidation to see".into(),
    )
}

/// GET answers in the 3xx class (the 304s), percent of all GET answers.
fn not_modified_share(e: &Evidence) -> f64 {
    let get = |class: Option<&str>| -> f64 {
        e.samples
            .iter()
            .filter(|s| {
                s.name == "brisk_http_requests_total"
                    && s.label("method") == "GET"
                    && class.is_none_or(|c| s.label("status") == c)
            })
            .map(|s| s.value)
            .sum()
    };
    let share = 100.0 * get(Some("3xx")) / get(None).max(1.0);
    // An empty f64 sum is -0.0, which would print as "-0.0".
    if share == 0.0 {
        0.0
    } else {
        share
    }
}

/// "HTTP caching": a cached route answers with an ETag and a 304 on a match.
pub fn http_caching(e: &Evidence, args: &DoctorArgs) -> Row {
    let row = |v, ev| Row::new("cache", "HTTP caching", v, ev);
    let probes = match &e.probes.http_caching {
        None if args.no_probes => {
            return row(Verdict::Unknown, "probes turned off (--no-probes)".into())
        }
        None => {
            return row(
                Verdict::Unknown,
                "needs an API key to probe a cached route (--api-key or BRISK_DOCTOR_API_KEY)"
                    .into(),
            )
        }
        Some(Err(err)) => return row(Verdict::Unknown, format!("probe failed: {err}")),
        Some(Ok(probes)) => probes,
    };
    for p in probes {
        if p.status != 200 {
            let why = format!("GET {} with the key answered {}", p.path, p.status);
            return row(Verdict::Unknown, why);
        }
        if p.etag.is_none() {
            return row(Verdict::Fail, format!("GET {} has no ETag", p.path))
                .fix("answer cached routes with their stored ETag (the kit's respond_cached)");
        }
        if p.revalidated != Some(304) {
            let got = p.revalidated.map_or("nothing".into(), |s| s.to_string());
            return row(
                Verdict::Fail,
                format!(
                    "GET {} with If-None-Match: its ETag answered {got}, not 304",
                    p.path
                ),
            )
            .fix("answer a matching If-None-Match with 304 (the kit's respond_cached)");
        }
    }
    let paths: Vec<&str> = probes.iter().map(|p| p.path.as_str()).collect();
    row(
        Verdict::Pass,
        format!(
            "ETag, and 304 on If-None-Match: {}; {:.1} % of GET answers were 3xx (revalidated)",
            paths.join(", "),
            not_modified_share(e)
        ),
    )
}
