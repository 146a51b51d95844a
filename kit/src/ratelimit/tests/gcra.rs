//! GCRA (`gcra`, opt-in) against the real Redis, by Redis `TIME`: a burst of the count
//! then one per interval, its bound over any two admissions under 64 concurrent tasks
//! on two limiters, all-or-none with the other limits of a request, its refund, and
//! its state: one string per key, gone when its TAT has passed.

use super::*;
use crate::caller::{AuthContext, PlanName};
use crate::ratelimit::limits::parse_limits;
use crate::ratelimit::store::RedisStore;
use crate::ratelimit::{Check, RequestLimits, Source, Strategy};
use actix_web::http::Method;
use std::sync::Arc;

const PLAN_BASIC: PlanName = PlanName("basic");

fn check(prefix: &str, name: &str, limit: &str) -> Check {
    Check {
        name: Arc::from(name),
        rate: parse_limits(limit).unwrap()[0],
        key: format!("{prefix}:v1:rl:{{t1}}:{name}"),
    }
}

async fn query<T: redis::FromRedisValue>(prefix: &str, cmd: &[&str]) -> T {
    let mut conn = redis_at(REDIS_URL, prefix).conn();
    let mut c = redis::cmd(cmd[0]);
    for a in &cmd[1..] {
        c.arg(*a);
    }
    c.query_async(&mut conn).await.expect("Redis answers")
}

fn plan_limits(l: &Limiter) -> RequestLimits {
    let auth = AuthContext {
        tenant_id: 1,
        plan: PLAN_BASIC,
        key_id: 1,
        user_id: None,
    };
    let ip = "203.0.113.9".parse().unwrap();
    l.limits_for(&Method::GET, "/api/products", Some(&auth), ip)
        .expect("the plan limit applies")
}

#[tokio::test]
async fn gcra_admits_a_burst_of_the_count_then_waits_one_interval_in_one_small_string() {
    let prefix = unique_prefix();
    let store = RedisStore::new(redis_at(REDIS_URL, &prefix));
    let gcra = [check(&prefix, "gcra", "10 per minute gcra")]; // T = 6 s
    let first = store.decide(&gcra, 1).await.unwrap();
    assert!(first.allowed);
    assert_eq!(first.statuses[0].remaining, 9);
    for _ in 0..9 {
        assert!(store.decide(&gcra, 1).await.unwrap().allowed);
    }
    let refused = store.decide(&gcra, 1).await.unwrap();
    assert!(!refused.allowed);
    // TAT = first + 10 intervals (the bucket never emptied in between).
    let since = refused.now_ms - first.now_ms;
    let status = refused.statuses[0];
    assert_eq!(status.remaining, 0);
    assert_eq!(status.retry_after_ms, Some(6_000 - since), "one interval");
    assert_eq!(status.reset_after_ms, 60_000 - since, "until the TAT");
    let kind: String = query(&prefix, &["TYPE", &gcra[0].key]).await;
    assert_eq!(kind, "string");
    let pttl: i64 = query(&prefix, &["PTTL", &gcra[0].key]).await;
    assert!(pttl > 0 && pttl <= 60_000, "PTTL {pttl}: until the TAT");
    let bytes: i64 = query(&prefix, &["MEMORY", "USAGE", &gcra[0].key]).await;
    // Three numbers in one string: the key's name and Redis's overheads dominate.
    assert!(bytes <= 160, "{bytes} B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_tasks_on_two_limiters_never_exceed_the_count_plus_the_intervals_between_any_two(
) {
    let prefix = unique_prefix();
    let config = RateLimitConfig::default()
        .with_plan(PLAN_BASIC, parse_limits("50 per second gcra").unwrap());
    // Two limiters, two connections: two processes as far as Redis can tell.
    let (a, _) = limiter(REDIS_URL, &prefix, config.clone());
    let (b, _) = limiter(REDIS_URL, &prefix, config);
    assert_eq!(plan_limits(&a).checks[0].rate.strategy, Strategy::Gcra);
    let end = tokio::time::Instant::now() + Duration::from_millis(1_500);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let limits = plan_limits(&l);
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
    // From admission i to j: at most 50 + (t_j − t_i) / 20 ms (the burst, then the rate).
    for i in 0..times.len() {
        for j in i..times.len() {
            let bound = 50 + (times[j] - times[i]) * 50 / 1_000;
            assert!((j - i + 1) as u64 <= bound, "{} from {i} to {j}", j - i + 1);
        }
    }
    assert!(
        times.len() > 50,
        "the burst and some of the rate: {}",
        times.len()
    );
}

#[tokio::test]
async fn a_request_refused_by_a_gcra_limit_charges_none_of_the_others() {
    let prefix = unique_prefix();
    let store = RedisStore::new(redis_at(REDIS_URL, &prefix));
    let checks = [
        check(&prefix, "counter", "100 per minute"),
        check(&prefix, "gcra", "2 per minute gcra"),
    ];
    for _ in 0..2 {
        assert!(store.decide(&checks, 1).await.unwrap().allowed);
    }
    let before: String = query(&prefix, &["GET", &checks[1].key]).await;
    for _ in 0..3 {
        let out = store.decide(&checks, 1).await.unwrap();
        assert!(!out.allowed);
        assert_eq!(out.statuses[0].remaining, 98, "the counter untouched");
        assert!(out.statuses[1].retry_after_ms.is_some());
    }
    let counted = sub_windows(&prefix, &checks[0].key).await;
    assert_eq!(counted.values().sum::<i64>(), 2);
    let after: String = query(&prefix, &["GET", &checks[1].key]).await;
    assert_eq!(before, after, "nor the TAT");
}

#[tokio::test]
async fn a_refund_gives_one_interval_back_but_not_after_an_admission_found_the_bucket_empty() {
    let prefix = unique_prefix();
    let store = RedisStore::new(redis_at(REDIS_URL, &prefix));
    let burst = [check(&prefix, "burst", "3 per minute gcra")];
    let mut last = 0;
    for _ in 0..3 {
        last = store.decide(&burst, 1).await.unwrap().now_ms;
    }
    assert!(!store.decide(&burst, 1).await.unwrap().allowed);
    store.refund(&burst, last).await.unwrap();
    assert!(store.decide(&burst, 1).await.unwrap().allowed, "given back");
    assert!(!store.decide(&burst, 1).await.unwrap().allowed);

    // 10 per second: T = 100 ms. A charge, then one that finds the bucket empty again.
    let paced = [check(&prefix, "paced", "10 per second gcra")];
    let first = store.decide(&paced, 1).await.unwrap().now_ms;
    let drained = eventually(Duration::from_secs(5), || async {
        store.peek(&paced, 1).await.unwrap().now_ms >= first + 100
    })
    .await;
    assert!(drained, "Redis time passed one interval");
    let second = store.decide(&paced, 1).await.unwrap().now_ms;
    let held: String = query(&prefix, &["GET", &paced[0].key]).await;
    store.refund(&paced, first).await.unwrap();
    let still: String = query(&prefix, &["GET", &paced[0].key]).await;
    assert_eq!(held, still, "nothing given back for the first");
    store.refund(&paced, second).await.unwrap();
    let exists: i64 = query(&prefix, &["EXISTS", &paced[0].key]).await;
    assert_eq!(exists, 0, "the second's interval back: the bucket is empty");
}
