//! Limits on different hash tags, reserved tag by tag (what a Redis Cluster needs;
//! `make test-redis-cluster` runs these on one, `make test` on the single server with
//! the split forced): never over any limit under concurrency, and a refusal by one
//! tag refunds what the others charged.

use super::*;
use crate::ratelimit::limits::parse_limits;
use crate::ratelimit::store::RedisStore;
use crate::ratelimit::Check;
use std::sync::Arc;

/// A check named `name` on hash tag `tag`.
fn check(prefix: &str, tag: &str, name: &str, limit: &str) -> Check {
    Check {
        name: Arc::from(name),
        rate: parse_limits(limit).unwrap()[0],
        key: format!("{prefix}:v1:rl:{{{tag}}}:{name}"),
    }
}

/// What `store` still admits on `c` (a dry run).
async fn remaining(store: &RedisStore, c: &Check) -> u64 {
    store
        .peek(std::slice::from_ref(c), 1)
        .await
        .unwrap()
        .statuses[0]
        .remaining
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_requests_on_two_tags_admit_exactly_the_tighter_limit_and_refund_the_rest() {
    let prefix = crate::testing::unique_prefix();
    let store = RedisStore::with_slots(redis_at(REDIS_URL, &prefix), true);
    let tight = check(&prefix, "t1", "plan", "10 per minute");
    let loose = check(&prefix, "ip7", "route", "1000 per minute");
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (store, checks) = (store.clone(), vec![tight.clone(), loose.clone()]);
            tokio::spawn(async move { store.decide(&checks, 1).await.unwrap().allowed })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        admitted += usize::from(t.await.unwrap());
    }
    assert_eq!(
        admitted, 10,
        "never over the tighter limit, and it is reached"
    );
    assert_eq!(remaining(&store, &tight).await, 0);
    assert_eq!(
        remaining(&store, &loose).await,
        990,
        "the 54 refused requests were refunded on the other tag"
    );
}

#[tokio::test]
async fn a_guard_on_another_tag_that_refuses_leaves_the_checks_uncharged() {
    let prefix = crate::testing::unique_prefix();
    let store = RedisStore::with_slots(redis_at(REDIS_URL, &prefix), true);
    let guard = check(&prefix, "ip9", "failures", "2 per minute");
    let plan = check(&prefix, "t2", "plan", "100 per minute");
    for _ in 0..2 {
        assert!(
            store
                .decide(std::slice::from_ref(&guard), 1)
                .await
                .unwrap()
                .allowed
        );
    }
    let out = store
        .decide_guarded(std::slice::from_ref(&guard), std::slice::from_ref(&plan), 1)
        .await
        .unwrap();
    assert!(!out.allowed, "the exhausted guard refuses");
    assert_eq!(out.statuses.len(), 2, "the guard's status, then the plan's");
    assert!(out.statuses[0].retry_after_ms.is_some());
    assert_eq!(
        remaining(&store, &plan).await,
        100,
        "the plan kept no charge"
    );
}
