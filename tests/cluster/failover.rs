//! A Redis Cluster master SIGKILLed under load through nginx (only on the Redis
//! Cluster: `make test-cluster REDIS=cluster`). Its replica is promoted; meanwhile the
//! requests follow API.md's outage policies (the cache is bypassed, the plan limit
//! fails open: no 5xx, no connection error, no timeout); afterwards the cache and the
//! limiter work on the promoted node without a restart of brisk, and a limit on that
//! node is exact again. The killed node is restarted (it rejoins as a replica), so
//! the suites after this one find six healthy nodes.

use crate::harness::load::{self, LoadSpec};
use crate::harness::{
    blocking, client, failures, redis_cluster_seeds, w6_mix, Cluster, Member, WITHIN,
};
use crate::redis_nodes;
use brisk_testkit::process::signal;
use brisk_testkit::prometheus::sum;
use brisk_testkit::wait::{poll_until, wait_until};
use std::cell::Cell;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Counters of one process that tell whether Redis serves the cache and the limiter.
#[derive(Debug, Default, Clone, Copy)]
struct RedisUse {
    /// Limiter decisions taken on Redis (allowed + rejected, less those decided by
    /// the failure policy).
    decided: f64,
    /// Limiter calls Redis failed, or skipped while its breaker was open (store errors
    /// + decisions by the failure policy).
    limiter_failed: f64,
    /// Cache lookups Redis answered (hit + stale + miss + coalesced).
    looked_up: f64,
    /// Cache lookups, refreshes and invalidations Redis failed.
    cache_failed: f64,
}

impl RedisUse {
    async fn of(members: &[Member]) -> RedisUse {
        let mut total = RedisUse::default();
        for m in members {
            let text = m.metrics().await;
            // Summed over the other labels (the cache's `kind`: view, memo, invalidation).
            let n = |family: &str, outcome: &str| {
                sum(&text, family, &format!("outcome=\"{outcome}\"")).unwrap_or(0.0)
            };
            let limiter = |o| n("brisk_ratelimit_decisions_total", o);
            let cache = |o| n("brisk_cache_events_total", o);
            let by_policy = limiter("decided_without_store");
            total.decided += limiter("allowed") + limiter("rejected") - by_policy;
            total.limiter_failed += limiter("store_error") + by_policy;
            total.looked_up += cache("hit") + cache("stale") + cache("miss") + cache("coalesced");
            total.cache_failed += cache("error") + cache("refresh_error");
        }
        total
    }

    /// What happened between `base` and `self`.
    fn since(self, base: RedisUse) -> RedisUse {
        RedisUse {
            decided: self.decided - base.decided,
            limiter_failed: self.limiter_failed - base.limiter_failed,
            looked_up: self.looked_up - base.looked_up,
            cache_failed: self.cache_failed - base.cache_failed,
        }
    }
}

/// True once Redis has decided and looked up at least 20 times since `since` without
/// failing once; a failure moves `since` to now (the window starts again).
async fn redis_serves_again(members: &[Member], since: &Cell<RedisUse>) -> bool {
    let (now, base) = (RedisUse::of(members).await, since.get());
    if now.limiter_failed != base.limiter_failed || now.cache_failed != base.cache_failed {
        since.set(now);
        return false;
    }
    now.decided - base.decided >= 20.0 && now.looked_up - base.looked_up >= 20.0
}

/// Waits (deadline [`WITHIN`]) until [`redis_serves_again`]; panics with what the
/// counters did since the call and since the last Redis failure.
async fn wait_redis_serves_again(members: &[Member]) {
    let at_start = RedisUse::of(members).await;
    let since = Cell::new(at_start);
    let serves = wait_until(WITHIN, || redis_serves_again(members, &since));
    if serves.await.is_none() {
        let now = RedisUse::of(members).await;
        panic!(
            "Redis never served again: since the promotion {:?}; since the last failure {:?}",
            now.since(at_start),
            now.since(since.get())
        );
    }
}

/// Every process's readiness probe reports Redis up (in its body: `/ready` never
/// answers 503 for Redis).
async fn assert_ready_reports_redis_up(members: &[Member]) {
    for m in members {
        let url = format!("http://127.0.0.1:{}/ready", m.admin);
        let resp = client().get(url).send().await.expect("/ready answered");
        let body: serde_json::Value = resp.json().await.expect("a JSON body");
        assert_eq!(body["redis"], "ok", "/ready of {}: {body}", m.base());
    }
}

/// A client address on loopback whose login bucket (`{ip<addr>}`) lives on the
/// master on `port`.
fn address_on(port: u16) -> IpAddr {
    (2..=250)
        .map(|x| format!("127.0.0.{x}"))
        .find(|a| redis_nodes::master_of(redis_nodes::slot(&format!("ip{a}"))) == Some(port))
        .expect("an address whose slot that master serves")
        .parse()
        .unwrap()
}

/// Statuses of 8 logins of tenant 1's admin from `from` through nginx (5 per minute
/// per address).
async fn logins_from(from: IpAddr, url: &str) -> Vec<u16> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .local_address(from)
        .build()
        .unwrap();
    let body = serde_json::json!({"email": "admin@tenant1.example", "password": "password"});
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let resp = http.post(url).json(&body).send().await;
        statuses.push(resp.map_or(0, |r| r.status().as_u16()));
    }
    statuses
}

#[tokio::test]
#[ignore = "needs nginx and the local Redis Cluster: make test-cluster REDIS=cluster"]
async fn a_redis_cluster_master_killed_under_load_fails_no_request_and_its_replica_takes_over() {
    assert!(
        redis_cluster_seeds().is_some(),
        "runs on the local Redis Cluster only (make test-cluster REDIS=cluster)"
    );
    // Six nodes up, every replica synced (an earlier run may have killed one).
    blocking(redis_nodes::heal).await;
    // Whatever happens below, the killed node is restarted (it rejoins as a replica).
    let _heal = redis_nodes::HealOnDrop;
    let cluster = blocking(|| Cluster::start(2, &[])).await;
    // The master of tenant 2's keys (the load's cache entries and plan limit).
    let slot = redis_nodes::slot("t2");
    let victim = redis_nodes::master_of(slot).expect("a master serves tenant 2");
    let login_from = address_on(victim);
    let clock = Instant::now();
    let spec = LoadSpec::new(8, Duration::from_secs(90));
    let running = load::start(spec, clock, true, w6_mix(&cluster));
    running.until_answered(300, WITHIN).await;
    let before_kill = RedisUse::of(&cluster.members).await;
    // The series are read as served (a misnamed one would read 0 forever).
    assert!(
        before_kill.decided > 0.0 && before_kill.looked_up > 0.0,
        "Redis decided and looked up before the kill: {before_kill:?}"
    );

    signal(redis_nodes::pid(victim), "KILL");
    let killed = clock.elapsed();
    // Off the async workers: the load generator runs on them meanwhile.
    let promoted = blocking(move || {
        poll_until(WITHIN, || {
            redis_nodes::master_of(slot).is_some_and(|p| p != victim)
        })
    })
    .await;
    assert!(promoted, "no replica took over slot {slot}");
    let promoted_at = clock.elapsed();
    // The cache and the limiter use the promoted node, brisk not restarted: a window
    // with Redis decisions and lookups and no Redis failure.
    wait_redis_serves_again(&cluster.members).await;
    let recovered = clock.elapsed();
    running.stop();
    let samples = running.finish().await;
    let during = samples
        .iter()
        .filter(|s| s.start >= killed && s.start < recovered)
        .count();
    // Served while no master served the slot (the outage policies at work).
    let in_outage = samples
        .iter()
        .filter(|s| s.start >= killed && s.end() < promoted_at)
        .count();
    assert!(
        in_outage > 0,
        "no request answered between the kill and the promotion"
    );
    assert_eq!(failures(&samples), Vec::<String>::new());

    // A limit on the promoted node is exact: 5 logins per minute per address.
    let statuses = logins_from(login_from, &cluster.url("/api/login")).await;
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    assert_ready_reports_redis_up(&cluster.members).await;
    let after = RedisUse::of(&cluster.members).await;
    eprintln!(
        "{} requests, {during} between the kill ({killed:?}) and the recovery ({recovered:?}; \
         replica promoted at {promoted_at:?}; {in_outage} answered before it), none failed; \
         limiter calls Redis failed: {}, cache lookups Redis failed: {}",
        samples.len(),
        after.limiter_failed - before_kill.limiter_failed,
        after.cache_failed - before_kill.cache_failed,
    );
    drop(cluster);
    blocking(redis_nodes::heal).await;
    assert!(redis_nodes::healthy(), "six healthy nodes again");
}
