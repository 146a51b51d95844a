//! Redis cut through a TCP proxy: each failure policy behaves as configured, nothing
//! fails, every decision without Redis is counted, and Redis is used again within
//! seconds of coming back.

use super::*;
use crate::caller::AuthContext;
use crate::caller::PlanName;
use crate::metrics::events::LimiterEvent;

/// A plan of this test's own (the kit names none).
const PLAN_BASIC: PlanName = PlanName("basic");
use crate::ratelimit::limits::parse_limits;
use crate::ratelimit::rules::parse_route_rule;
use crate::ratelimit::{FailurePolicy, RequestLimits, Source};
use actix_web::http::Method;
use std::net::IpAddr;

const BREAKER: Duration = Duration::from_millis(200);

/// Two processes with a 200 ms breaker.
fn spec(api_on_failure: FailurePolicy) -> RateLimitConfig {
    let mut spec =
        RateLimitConfig::default().with_plan(PLAN_BASIC, parse_limits("1000 per minute").unwrap());
    spec.routes = vec![parse_route_rule("POST /api/login = 4 per minute by ip").unwrap()];
    spec.on_failure = api_on_failure;
    spec.ip_on_failure = FailurePolicy::Local;
    spec.trusted_hops = 0;
    spec.processes = 2;
    spec.breaker = BREAKER;
    spec
}

fn ip() -> IpAddr {
    "198.51.100.7".parse().unwrap()
}

fn plan_limits(l: &Limiter) -> RequestLimits {
    let auth = AuthContext {
        tenant_id: 11,
        plan: PLAN_BASIC,
        key_id: 1,
        user_id: None,
    };
    l.limits_for(&Method::GET, "/api/orders", Some(&auth), ip())
        .unwrap()
}

fn login_limits(l: &Limiter) -> RequestLimits {
    l.limits_for(&Method::POST, "/api/login", None, ip())
        .unwrap()
}

async fn cut_and_check<F>(policy: FailurePolicy, mode: Mode, check: F)
where
    F: Fn(&Limiter, &crate::ratelimit::Decision),
{
    let proxy = TcpProxy::start().await;
    let (l, metrics) = limiter(&proxy.url(), &unique_prefix(), spec(policy));
    let limits = plan_limits(&l);
    assert_eq!(
        l.decide(&limits).await.source,
        Source::Store,
        "Redis reachable at first"
    );
    proxy.set(mode);
    for _ in 0..5 {
        // A hung Redis must not hang the request: the decision comes back in bounded time.
        let d = tokio::time::timeout(Duration::from_secs(2), l.decide(&limits))
            .await
            .expect("a decision within the deadline");
        assert_eq!(d.source, Source::WithoutStore(policy));
        check(&l, &d);
    }
    assert!(metrics.limiter_count(LimiterEvent::StoreError) >= 1);
    assert_eq!(metrics.limiter_count(LimiterEvent::DecidedWithoutStore), 5);
}

#[tokio::test]
async fn allow_lets_every_request_through_while_redis_is_cut() {
    cut_and_check(FailurePolicy::Allow, Mode::Refuse, |_, d| {
        assert!(d.allowed);
        assert!(d.headline().is_some(), "headers still describe the limit");
    })
    .await;
}

#[tokio::test]
async fn deny_refuses_with_429_and_retry_after_while_redis_is_cut() {
    cut_and_check(FailurePolicy::Deny, Mode::Refuse, |_, d| {
        assert!(!d.allowed);
        // A rejection (rendered as 429 by `http::middleware::rate_limit`), never an error.
        let rejection = d.rejection().expect("a refusal carries its rejection");
        assert!(rejection.retry_after_secs >= 1);
        assert_eq!(Some(rejection.retry_after_secs), d.retry_after_secs());
        assert!(rejection.detail.contains("cannot reach its store"));
    })
    .await;
}

#[tokio::test]
async fn a_hung_redis_times_out_into_the_policy() {
    cut_and_check(FailurePolicy::Allow, Mode::Blackhole, |_, d| {
        assert!(d.allowed)
    })
    .await;
}

#[tokio::test]
async fn local_keeps_limiting_login_with_this_processs_share() {
    let proxy = TcpProxy::start().await;
    let (l, metrics) = limiter(&proxy.url(), &unique_prefix(), spec(FailurePolicy::Allow));
    let login = login_limits(&l);
    assert_eq!(l.decide(&login).await.source, Source::Store);
    proxy.set(Mode::Refuse);
    let mut allowed = Vec::new();
    for _ in 0..4 {
        let d = l.decide(&login).await;
        assert_eq!(d.source, Source::WithoutStore(FailurePolicy::Local));
        allowed.push(d.allowed);
        if !d.allowed {
            assert!(d.rejection().is_some(), "refused with a rejection (429)");
            assert_eq!(
                d.headline().unwrap().rate.count,
                2,
                "4 per minute over 2 processes"
            );
        }
    }
    assert_eq!(allowed, [true, true, false, false]);
    assert_eq!(metrics.limiter_count(LimiterEvent::DecidedWithoutStore), 4);
}

#[tokio::test]
async fn redis_is_used_again_within_seconds_after_it_comes_back() {
    let proxy = TcpProxy::start().await;
    let (l, metrics) = limiter(&proxy.url(), &unique_prefix(), spec(FailurePolicy::Allow));
    let limits = plan_limits(&l);
    assert_eq!(l.decide(&limits).await.source, Source::Store);
    proxy.set(Mode::Refuse);
    assert_ne!(l.decide(&limits).await.source, Source::Store);
    // Still down after a breaker window: still decided by policy, still no error.
    tokio::time::sleep(BREAKER * 2).await;
    assert_ne!(l.decide(&limits).await.source, Source::Store);
    proxy.set(Mode::Forward);
    let back = eventually(Duration::from_secs(5), || async {
        l.decide(&limits).await.source == Source::Store
    })
    .await;
    assert!(back, "Redis used again after it came back");
    assert!(metrics.limiter_count(LimiterEvent::StoreError) >= 1);
    // And the state kept in Redis before the cut is still there: 1 before + the ones after.
    let d = l.decide(&limits).await;
    assert_eq!(d.source, Source::Store);
    assert!(d.limits[0].remaining < 999);
}

#[tokio::test]
async fn a_guarded_decision_without_redis_counts_once_as_decided_without_store() {
    let proxy = TcpProxy::start().await;
    let (l, metrics) = limiter(&proxy.url(), &unique_prefix(), spec(FailurePolicy::Allow));
    let (guard, limits) = (login_limits(&l), plan_limits(&l));
    assert_eq!(
        l.decide_guarded(&guard, &limits).await.source,
        Source::Store
    );
    proxy.set(Mode::Refuse);
    for _ in 0..3 {
        let d = l.decide_guarded(&guard, &limits).await;
        assert_eq!(d.source, Source::WithoutStore(FailurePolicy::Allow));
    }
    // Every decision is one of allowed or rejected, and at most one without the store.
    let decided = metrics.limiter_count(LimiterEvent::Allowed)
        + metrics.limiter_count(LimiterEvent::Rejected);
    assert_eq!(decided, 4);
    assert_eq!(metrics.limiter_count(LimiterEvent::DecidedWithoutStore), 3);
}
