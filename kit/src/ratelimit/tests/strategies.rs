//! Every strategy against the real Redis: the default counter never over-admits under
//! concurrency across two limiters (two processes' worth of connections), its state
//! does not grow with the count, refunds take back one unit of the right sub-window,
//! and each opt-in strategy keeps its own guarantee. Time is Redis `TIME` (the script
//! reads it), so every admission is recorded with the time the script gave it.

use super::*;
use crate::caller::{AuthContext, PlanName};
use crate::ratelimit::limits::parse_limits;
use crate::ratelimit::store::RedisStore;
use crate::ratelimit::{Check, Rate, RequestLimits, Source, Strategy};
use actix_web::http::Method;
use std::sync::Arc;

const PLAN_BASIC: PlanName = PlanName("basic");

fn plan_limits(l: &Limiter, tenant: i64) -> RequestLimits {
    let auth = AuthContext {
        tenant_id: tenant,
        plan: PLAN_BASIC,
        key_id: 1,
        user_id: None,
    };
    let ip = "203.0.113.9".parse().unwrap();
    l.limits_for(&Method::GET, "/api/products", Some(&auth), ip)
        .expect("the plan limit applies")
}

fn with_plan(limit: &str) -> RateLimitConfig {
    RateLimitConfig::default().with_plan(PLAN_BASIC, parse_limits(limit).unwrap())
}

fn check(prefix: &str, name: &str, limit: &str) -> Check {
    Check {
        name: Arc::from(name),
        rate: parse_limits(limit).unwrap()[0],
        key: format!("{prefix}:v1:rl:{{t1}}:{name}"),
    }
}

/// The most admissions inside any span of `period_ms` (times ascending).
fn worst_span(times: &[u64], period_ms: u64) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|&&u| u < times[i] + period_ms)
                .count()
        })
        .max()
        .unwrap_or(0)
}

async fn query<T: redis::FromRedisValue>(prefix: &str, cmd: &[&str]) -> T {
    let mut conn = redis_at(REDIS_URL, prefix).conn();
    let mut c = redis::cmd(cmd[0]);
    for a in &cmd[1..] {
        c.arg(*a);
    }
    c.query_async(&mut conn).await.expect("Redis answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_tasks_on_two_limiters_never_admit_more_than_the_limit_in_any_rolling_period() {
    let prefix = unique_prefix();
    // Two limiters, two connections: two processes as far as Redis can tell.
    let (a, _) = limiter(REDIS_URL, &prefix, with_plan("100 per second"));
    let (b, _) = limiter(REDIS_URL, &prefix, with_plan("100 per second"));
    let key = plan_limits(&a, 1).checks[0].key.clone();
    let end = tokio::time::Instant::now() + Duration::from_millis(2_600);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let limits = plan_limits(&l, 1);
                let mut admitted = Vec::new();
                while tokio::time::Instant::now() < end {
                    let d = l.decide(&limits).await;
                    assert_eq!(d.source, Source::Store, "Redis decided");
                    if d.allowed {
                        admitted.push(d.now_ms);
                    }
                }
                admitted
            })
        })
        .collect();
    let mut times = Vec::new();
    for t in tasks {
        times.extend(t.await.unwrap());
    }
    times.sort_unstable();
    // The run crosses at least two period boundaries.
    assert!(times.last().unwrap() - times[0] >= 2_000, "{times:?}");
    let worst = worst_span(&times, 1_000);
    assert!(worst <= 100, "{worst} admitted within one second");
    // Not stingy: each second of the run admitted close to its 100.
    assert!(times.len() >= 240, "only {} admitted", times.len());
    let fields: i64 = query(&prefix, &["HLEN", &key]).await;
    // At most 65 sub-windows and the three totals fields.
    assert!((4..=68).contains(&fields), "{fields} fields");
    let pttl: i64 = query(&prefix, &["PTTL", &key]).await;
    assert!(
        pttl > 0 && pttl <= 1_016,
        "PTTL {pttl}: a period and a sub-window"
    );
}

#[tokio::test]
async fn a_counter_holding_10000_admits_is_no_larger_than_one_holding_100_while_the_log_grows() {
    let prefix = unique_prefix();
    let store = RedisStore::new(redis_at(REDIS_URL, &prefix));
    let small = [check(&prefix, "small", "1000000 per minute")];
    let large = [check(&prefix, "large", "1000000 per minute")];
    let log = [check(&prefix, "log", "1000000 per minute moving-window")];
    // Interleaved, so both counters see the same sub-windows.
    for _ in 0..100 {
        assert!(store.decide(&small, 1).await.unwrap().allowed);
        assert!(store.decide(&large, 100).await.unwrap().allowed);
        assert!(store.decide(&log, 100).await.unwrap().allowed);
    }
    let total = |k: &str| {
        let k = k.to_string();
        let p = prefix.clone();
        async move { sub_windows(&p, &k).await.values().sum::<i64>() }
    };
    assert_eq!(total(&small[0].key).await, 100);
    assert_eq!(total(&large[0].key).await, 10_000);
    let (hlen_small, hlen_large): (i64, i64) = (
        query(&prefix, &["HLEN", &small[0].key]).await,
        query(&prefix, &["HLEN", &large[0].key]).await,
    );
    assert!(
        hlen_large <= hlen_small + 1 && hlen_large <= 68,
        "{hlen_small} vs {hlen_large}"
    );
    let memory = |k: String| {
        let p = prefix.clone();
        async move { query::<i64>(&p, &["MEMORY", "USAGE", &k]).await }
    };
    let (m_small, m_large, m_log) = (
        memory(small[0].key.clone()).await,
        memory(large[0].key.clone()).await,
        memory(log[0].key.clone()).await,
    );
    // A few bytes per sub-window for wider numbers, never a byte per admission.
    assert!(m_large <= m_small + 64, "{m_small} B vs {m_large} B");
    assert!(
        m_log >= 20 * m_large,
        "the log holds 10,000 entries: {m_log} B"
    );
    let llen: i64 = query(&prefix, &["LLEN", &log[0].key]).await;
    assert_eq!(llen, 10_000);
}

#[tokio::test]
async fn a_refund_in_redis_takes_one_from_its_sub_window_and_never_goes_below_zero() {
    let prefix = unique_prefix();
    let store = RedisStore::new(redis_at(REDIS_URL, &prefix));
    let counter = [check(&prefix, "counter", "3 per minute")];
    let mut stamps = Vec::new();
    for _ in 0..3 {
        let out = store.decide(&counter, 1).await.unwrap();
        assert!(out.allowed);
        stamps.push(out.now_ms);
    }
    assert!(!store.decide(&counter, 1).await.unwrap().allowed);
    store.refund(&counter, stamps[0]).await.unwrap();
    let out = store.decide(&counter, 1).await.unwrap();
    assert!(out.allowed, "the refunded unit is admissible again");
    // Refunds of a sub-window never charged, and more refunds than charges: no
    // counter goes below zero (a sub-window at zero is deleted).
    let ten_seconds_ago = out.now_ms - 10_000;
    store.refund(&counter, ten_seconds_ago).await.unwrap();
    for _ in 0..5 {
        store.refund(&counter, out.now_ms).await.unwrap();
    }
    let values = sub_windows(&prefix, &counter[0].key).await;
    assert!(values.values().all(|v| *v >= 0), "{values:?}");
    assert!(values.values().sum::<i64>() <= 3, "{values:?}");
    // The totals field agrees with the sub-windows: the next decisions admit exactly
    // what the sub-windows leave room for.
    let room = 3 - values.values().sum::<i64>();
    let mut admitted = 0;
    while store.decide(&counter, 1).await.unwrap().allowed {
        admitted += 1;
    }
    assert_eq!(admitted, room, "{values:?}");
    // The log's refund takes back its entry too.
    let log = [check(&prefix, "log", "1 per minute moving-window")];
    let out = store.decide(&log, 1).await.unwrap();
    assert!(!store.decide(&log, 1).await.unwrap().allowed);
    store.refund(&log, out.now_ms).await.unwrap();
    assert!(store.decide(&log, 1).await.unwrap().allowed);
}

#[tokio::test]
async fn moving_window_is_exact_its_retry_after_is_the_oldest_admission_plus_the_period() {
    let prefix = unique_prefix();
    let store = RedisStore::new(redis_at(REDIS_URL, &prefix));
    let log = [check(&prefix, "log", "5 per minute moving-window")];
    let first = store.decide(&log, 1).await.unwrap();
    for _ in 0..4 {
        assert!(store.decide(&log, 1).await.unwrap().allowed);
    }
    let refused = store.decide(&log, 1).await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(
        refused.statuses[0].retry_after_ms,
        Some(first.now_ms + 60_000 - refused.now_ms),
        "exactly when the first admission leaves the window"
    );
}

#[tokio::test]
async fn fixed_window_admits_the_limit_in_every_calendar_window_and_resets_at_its_end() {
    let prefix = unique_prefix();
    let store = RedisStore::new(redis_at(REDIS_URL, &prefix));
    let fixed = [check(&prefix, "fixed", "10 per second fixed-window")];
    let mut admitted: Vec<u64> = Vec::new();
    let end = tokio::time::Instant::now() + Duration::from_millis(2_300);
    while tokio::time::Instant::now() < end {
        let out = store.decide(&fixed, 1).await.unwrap();
        if out.allowed {
            admitted.push(out.now_ms);
        } else {
            // Refused until the next calendar second, not a rolling one.
            let retry = out.statuses[0].retry_after_ms.unwrap();
            assert_eq!(out.now_ms + retry, (out.now_ms / 1_000 + 1) * 1_000);
        }
    }
    let mut per_window = std::collections::BTreeMap::new();
    for t in &admitted {
        *per_window.entry(t / 1_000).or_insert(0) += 1;
    }
    assert!(per_window.values().all(|n| *n <= 10), "{per_window:?}");
    let full = per_window.values().filter(|n| **n == 10).count();
    assert!(
        full >= 2,
        "each whole second admitted its 10: {per_window:?}"
    );
    let fields = sub_windows(&prefix, &fixed[0].key).await;
    assert_eq!(fields.len(), 1, "one counter: {fields:?}");
}

#[tokio::test]
async fn the_memory_store_follows_each_limits_strategy() {
    for (limit, strategy) in [
        ("3 per minute", Strategy::SlidingWindowCounter),
        ("3 per minute moving-window", Strategy::MovingWindow),
        ("3 per minute fixed-window", Strategy::FixedWindow),
        ("3 per minute gcra", Strategy::Gcra),
    ] {
        let l = Limiter::new(with_plan(limit), None, Metrics::new()).unwrap();
        let limits = plan_limits(&l, 6);
        assert_eq!(limits.checks[0].rate.strategy, strategy);
        let mut allowed = Vec::new();
        for _ in 0..5 {
            allowed.push(l.decide(&limits).await.allowed);
        }
        assert_eq!(allowed, [true, true, true, false, false], "{limit}");
    }
    let rate: Rate = parse_limits("3 per minute fixed-window").unwrap()[0];
    assert_eq!(rate.to_string(), "3 per minute fixed-window");
}
