//! The Redis store through `Limiter::decide`: exact across processes, atomic across
//! limits, no edge burst, Retry-After honoured, keys prefixed and expiring.

use super::*;
use crate::caller::AuthContext;
use crate::caller::PlanName;

/// A plan of this test's own (the kit names none).
const PLAN_BASIC: PlanName = PlanName("basic");
use crate::ratelimit::limits::parse_limits;
use crate::ratelimit::rules::parse_route_rule;
use crate::ratelimit::{RequestLimits, Source};
use actix_web::http::Method;
use std::net::IpAddr;

fn auth(tenant_id: i64) -> AuthContext {
    AuthContext {
        tenant_id,
        plan: PLAN_BASIC,
        key_id: 1,
        user_id: None,
    }
}

fn ip() -> IpAddr {
    "203.0.113.9".parse().unwrap()
}

fn spec_with_free(free: &str) -> RateLimitConfig {
    RateLimitConfig::default().with_plan(PLAN_BASIC, parse_limits(free).unwrap())
}

fn plan_limits(l: &Limiter, tenant: i64) -> RequestLimits {
    l.limits_for(&Method::GET, "/api/products", Some(&auth(tenant)), ip())
        .expect("the plan limit applies")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_limiters_sharing_redis_admit_exactly_the_limit_out_of_three_times_as_many() {
    let prefix = unique_prefix();
    let spec = spec_with_free("20 per minute");
    // Two limiters, two connections: two processes as far as Redis can tell.
    let (a, _) = limiter(REDIS_URL, &prefix, spec.clone());
    let (b, _) = limiter(REDIS_URL, &prefix, spec);
    let mut tasks = Vec::new();
    for i in 0..60 {
        let l = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let d = l.decide(&plan_limits(&l, 1)).await;
            assert_eq!(d.source, Source::Store, "Redis decided");
            d.allowed
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        admitted += usize::from(t.await.unwrap());
    }
    assert_eq!(admitted, 20);
}

#[tokio::test]
async fn a_request_rejected_by_the_hourly_limit_leaves_the_daily_remaining_unchanged() {
    let prefix = unique_prefix();
    let (l, _) = limiter(
        REDIS_URL,
        &prefix,
        spec_with_free("200 per day; 2 per hour"),
    );
    let limits = plan_limits(&l, 2);
    assert_eq!(limits.checks.len(), 2);
    for expected in [199, 198] {
        let d = l.decide(&limits).await;
        assert_eq!(d.source, Source::Store);
        assert!(d.allowed);
        assert_eq!(d.limits[0].remaining, expected);
    }
    for _ in 0..3 {
        let d = l.decide(&limits).await;
        assert_eq!(d.source, Source::Store);
        assert!(!d.allowed);
        assert_eq!(d.limits[0].remaining, 198, "daily untouched by the refusal");
        assert_eq!(d.limits[0].retry_after_ms, None);
        assert_eq!(d.limits[1].remaining, 0);
        assert!(d.limits[1].retry_after_ms.is_some());
    }
    let daily = sub_windows(&prefix, &limits.checks[0].key).await;
    assert_eq!(
        daily.values().sum::<i64>(),
        2,
        "two admissions recorded in the daily counter"
    );
}

#[tokio::test]
async fn at_most_the_limit_passes_in_any_window_length_span_by_redis_time() {
    let prefix = unique_prefix();
    let (l, _) = limiter(REDIS_URL, &prefix, spec_with_free("5 per second"));
    let limits = plan_limits(&l, 3);
    let mut admitted = Vec::new();
    // Hammer across more than two window lengths.
    let end = tokio::time::Instant::now() + Duration::from_millis(2_300);
    while tokio::time::Instant::now() < end {
        let d = l.decide(&limits).await;
        assert_eq!(d.source, Source::Store, "decided by Redis, by Redis time");
        if d.allowed {
            admitted.push(d.now_ms);
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    for (i, &t) in admitted.iter().enumerate() {
        let in_span = admitted[i..].iter().take_while(|&&u| u < t + 1_000).count();
        assert!(
            in_span <= 5,
            "{in_span} admitted within 1 s from {t}: {admitted:?}"
        );
    }
    assert!(admitted.len() >= 10, "each window was used: {admitted:?}");
}

#[tokio::test]
async fn a_request_after_retry_after_succeeds() {
    let prefix = unique_prefix();
    let (l, _) = limiter(REDIS_URL, &prefix, spec_with_free("2 per second"));
    let limits = plan_limits(&l, 4);
    assert!(l.decide(&limits).await.allowed);
    assert!(l.decide(&limits).await.allowed);
    let refused = l.decide(&limits).await;
    let refused_at = tokio::time::Instant::now();
    assert!(!refused.allowed);
    let retry = refused
        .retry_after_secs()
        .expect("a refusal carries Retry-After");
    // One period, plus up to a sub-window (1/64 of it) for the counter.
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // Wait (by polling the clock, with a deadline) until the advertised time has passed.
    let passed = eventually(Duration::from_secs(3), || async {
        refused_at.elapsed() >= Duration::from_secs(retry)
    })
    .await;
    assert!(passed);
    assert!(
        l.decide(&limits).await.allowed,
        "the retry after Retry-After passes"
    );
}

#[tokio::test]
async fn keys_carry_the_prefix_and_the_identity_tag_and_expire_with_their_window() {
    let prefix = unique_prefix();
    let mut spec = spec_with_free("3 per minute");
    spec.routes = vec![parse_route_rule("POST /api/login = 5 per 10 seconds by ip").unwrap()];
    let (l, _) = limiter(REDIS_URL, &prefix, spec);
    let login = l
        .limits_for(&Method::POST, "/api/login", None, ip())
        .unwrap();
    assert!(l.decide(&login).await.allowed);
    let plan = plan_limits(&l, 5);
    assert!(l.decide(&plan).await.allowed);
    let mut conn = redis_at(REDIS_URL, &prefix).conn();
    // A counter key lives one period and one sub-window (1/64 of it) after a charge.
    for (check, period_ms) in [(&login.checks[0], 10_157), (&plan.checks[0], 60_938)] {
        assert!(
            check.key.starts_with(&format!("{prefix}:v1:rl:{{")),
            "{}",
            check.key
        );
        let pttl: i64 = redis::cmd("PTTL")
            .arg(&check.key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(pttl > 0 && pttl <= period_ms, "{} PTTL {pttl}", check.key);
    }
    assert!(login.checks[0].key.contains("{ip203.0.113.9}"));
    assert!(plan.checks[0].key.contains("{t5}"));
}

#[tokio::test]
async fn the_memory_store_limits_the_same_way_without_redis() {
    let metrics = Metrics::new();
    let l = Limiter::new(spec_with_free("3 per minute"), None, metrics.clone()).unwrap();
    let limits = plan_limits(&l, 6);
    let allowed: Vec<bool> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            let d = l.decide(&limits).await;
            assert_eq!(d.source, Source::Store);
            v.push(d.allowed);
        }
        v
    };
    assert_eq!(allowed, [true, true, true, false, false]);
    use crate::metrics::events::LimiterEvent;
    assert_eq!(metrics.limiter_count(LimiterEvent::Allowed), 3);
    assert_eq!(metrics.limiter_count(LimiterEvent::Rejected), 2);
    assert_eq!(metrics.limiter_count(LimiterEvent::DecidedWithoutStore), 0);
}

#[tokio::test]
async fn the_redis_script_decides_exactly_like_the_pure_algorithms_of_every_strategy() {
    use crate::ratelimit::state::State;
    use crate::ratelimit::store::RedisStore;
    use crate::ratelimit::window;
    use crate::ratelimit::{Check, Rate, Strategy};
    use std::sync::Arc;
    let prefix = unique_prefix();
    let store = RedisStore::new(redis_at(REDIS_URL, &prefix));
    let shapes = [
        (7, 300, Strategy::SlidingWindowCounter),
        (3, 70, Strategy::MovingWindow),
        (40, 2_000, Strategy::SlidingWindowCounter),
        (9, 250, Strategy::FixedWindow),
        (5, 200, Strategy::Gcra),
        (1_000, 600, Strategy::Gcra),
    ];
    let checks: Vec<Check> = shapes
        .into_iter()
        .enumerate()
        .map(|(i, (count, ms, strategy))| Check {
            name: Arc::from(format!("l{i}")),
            rate: Rate::new(count, Duration::from_millis(ms)).with_strategy(strategy),
            key: format!("{prefix}:v1:rl:{{t1}}:parity:{i}"),
        })
        .collect();
    let rates: Vec<Rate> = checks.iter().map(|c| c.rate).collect();
    let mut states: Vec<State> = rates.iter().map(|r| State::for_rate(*r)).collect();
    let (mut admitted, mut refused) = (0, 0);
    // Bursts and pauses over several periods of every limit, so states fill, refuse,
    // and drain partly and wholly (the log's gallop + LTRIM, the counters' HDEL).
    for round in 0..12u64 {
        for _ in 0..(2 + round % 5) {
            let cost = 1 + round % 2;
            let out = store.decide(&checks, cost).await.expect("Redis answers");
            let mut refs: Vec<&mut State> = states.iter_mut().collect();
            let (allowed, statuses) = window::decide(&mut refs, &rates, out.now_ms, cost, 0);
            assert_eq!(out.allowed, allowed, "round {round}");
            assert_eq!(out.statuses, statuses, "round {round}");
            if allowed {
                admitted += 1;
            } else {
                refused += 1;
            }
        }
        // Pacing the load over the periods (nothing is waited for).
        tokio::time::sleep(Duration::from_millis(15 + 40 * (round % 4))).await;
    }
    assert!(
        admitted > 10 && refused > 5,
        "{admitted} admitted, {refused} refused"
    );
}

#[tokio::test]
async fn a_script_flushed_from_redis_is_loaded_again_and_still_decides_from_the_store() {
    let prefix = unique_prefix();
    let (l, _) = limiter(REDIS_URL, &prefix, spec_with_free("2 per minute"));
    let limits = plan_limits(&l, 1);
    assert!(l.decide(&limits).await.allowed);
    // A Redis that restarted (or a node that never saw the script) answers NOSCRIPT.
    let mut conn = redis_at(REDIS_URL, &prefix).conn();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .expect("SCRIPT FLUSH");
    let second = l.decide(&limits).await;
    assert_eq!(second.source, Source::Store, "loaded again, not a fallback");
    assert!(second.allowed);
    let third = l.decide(&limits).await;
    assert_eq!(third.source, Source::Store);
    assert!(
        !third.allowed,
        "the two admissions before and after the flush count"
    );
}
