//! Processes coming and going: a write on one is read on the other, nginx routes
//! around a killed process, and `make reload`'s rolling restart fails no request.

use crate::harness::load::{self, LoadSpec, Sample};
use crate::harness::{blocking, client, failures, key, w6_mix, Cluster, WITHIN};
use brisk_testkit::process::signal;
use brisk_testkit::wait::wait_until;
use std::time::{Duration, Instant};

/// Limits far above the load (BRISK_RATE_LIMIT_SCALE multiplies every count).
const HIGH_LIMITS: [&str; 2] = ["--rate-limit-scale", "1000"];

#[tokio::test]
#[ignore = "needs nginx: make test-cluster"]
async fn a_put_through_one_process_is_seen_by_the_next_read_through_the_other() {
    let cluster = blocking(|| Cluster::start(2, &[])).await;
    let (a, b) = (&cluster.members[0], &cluster.members[1]);
    let http = client();
    let product = 21; // tenant 2's first product at scale 0.02 (20 per tenant)
    let read = |base: &str| {
        let req = http
            .get(format!("{base}/api/products/{product}"))
            .bearer_auth(key(2));
        async move {
            let resp = req.send().await.expect("a read answered");
            assert_eq!(resp.status(), 200);
            resp.json::<serde_json::Value>().await.expect("a product")["price_cents"].clone()
        }
    };
    // B holds the product in its cache before A changes it.
    let before = read(b.base()).await;
    assert_eq!(read(b.base()).await, before);
    let price = before.as_i64().expect("a price") + 123;
    let put = http
        .put(format!("{}/api/products/{product}", a.base()))
        .bearer_auth(key(2))
        .json(&serde_json::json!({"price_cents": price}))
        .send()
        .await
        .expect("the PUT answered");
    assert_eq!(put.status(), 200);
    assert_eq!(read(b.base()).await, price);
}

/// nginx's lines of requests that failed, each naming the process nginx sent it to:
/// the access log's 5xx answers, and the error log's answers cut short (the process
/// died while its body was on the way: nginx had passed on the status line, logged
/// the request as answered, and could not retry it elsewhere).
fn proxy_failures(cluster: &Cluster) -> Vec<String> {
    let read = |name: &str| {
        std::fs::read_to_string(cluster.dir.join("nginx").join(name)).unwrap_or_default()
    };
    let answered_5xx = read("access.log")
        .lines()
        .filter(|l| {
            let status = l.split("\" ").nth(1).and_then(|r| r.split(' ').next());
            status.is_some_and(|s| s.starts_with('5'))
        })
        .map(String::from)
        .collect::<Vec<_>>();
    let cut_short = read("error.log")
        .lines()
        .filter(|l| l.contains("upstream prematurely closed connection while reading upstream"))
        .map(String::from)
        .collect::<Vec<_>>();
    answered_5xx.into_iter().chain(cut_short).collect()
}

#[tokio::test]
#[ignore = "needs nginx: make test-cluster"]
async fn one_process_killed_under_load_fails_only_the_requests_in_flight_on_it() {
    let cluster = blocking(|| Cluster::start(2, &HIGH_LIMITS)).await;
    let clock = Instant::now();
    let spec = LoadSpec::new(8, Duration::from_secs(6));
    let running = load::start(spec, clock, true, w6_mix(&cluster));
    running.until_answered(300, WITHIN).await;
    let killed = &cluster.members[0];
    let kill_sent = clock.elapsed();
    signal(killed.brisk.pid(), "KILL");
    let samples = running.finish().await;
    let after = samples.iter().filter(|s| s.start > kill_sent).count();
    assert!(after > 300, "only {after} requests after the kill");
    // A failure is a request nginx had handed to the killed process when it died: a
    // non-idempotent one (a POST) that reached it is never passed on. nginx's log
    // names the process of each 5xx; every one is the killed process.
    let failed: Vec<&Sample> = samples.iter().filter(|s| s.failed()).collect();
    let proxied = proxy_failures(&cluster);
    // The access log's `upstream=…` or the error log's `upstream: "http://…/…"`.
    let (logged, errored) = (
        format!("upstream=127.0.0.1:{} ", killed.brisk.port),
        format!("upstream: \"http://127.0.0.1:{}/", killed.brisk.port),
    );
    assert_eq!(proxied.len(), failed.len(), "{proxied:?} {failed:?}");
    let on_killed = |l: &String| l.contains(&logged) || l.contains(&errored);
    assert!(proxied.iter().all(on_killed), "{proxied:?}");
    for s in &failed {
        // Not before the kill, and not long after: once nginx has seen the process's
        // connections close (they close with it) it no longer sends it anything.
        let window = s.end() >= kill_sent && s.start <= kill_sent + Duration::from_millis(500);
        assert!(
            window,
            "a request failed away from the kill ({kill_sent:?}): {s:?}"
        );
    }
    // At most one request per client was in flight.
    assert!(failed.len() <= 8, "{:?}", failures(&samples));
    eprintln!(
        "{} requests, {} after the kill, {} failed (in flight on the killed process)",
        samples.len(),
        after,
        failed.len()
    );
}

#[tokio::test]
#[ignore = "needs nginx: make test-cluster"]
async fn a_rolling_reload_under_load_fails_no_request() {
    let cluster = blocking(|| Cluster::start(2, &HIGH_LIMITS)).await;
    let before = [cluster.pid(1), cluster.pid(2)];
    let clock = Instant::now();
    let spec = LoadSpec::new(8, Duration::from_secs(60));
    let running = load::start(spec, clock, true, w6_mix(&cluster));
    running.until_answered(200, WITHIN).await;
    // scripts/cluster.sh reload, the one `make reload` runs, on this cluster.
    let mut script = cluster.reload_command();
    let out = blocking(move || script.output()).await;
    let out = out.expect("run scripts/cluster.sh reload");
    let reloaded = clock.elapsed();
    assert!(out.status.success(), "reload failed: {out:?}");
    // The load goes on until both restarted processes have answered 60 more requests.
    for member in &cluster.members {
        let base = member.requests().await;
        let served = wait_until(WITHIN, || async { member.requests().await >= base + 60.0 });
        assert!(served.await.is_some(), "a restarted process got no traffic");
    }
    running.stop();
    let samples = running.finish().await;
    let during = samples.iter().filter(|s| s.start < reloaded).count();
    let after = samples.len() - during;
    assert!(
        during > 200,
        "only {during} requests up to the reload's end"
    );
    assert!(after >= 100, "only {after} requests after the reload");
    assert_eq!(failures(&samples), Vec::<String>::new());
    let now = [cluster.pid(1), cluster.pid(2)];
    assert!(
        before.iter().zip(&now).all(|(b, n)| b != n),
        "not every process was restarted: {before:?} → {now:?}"
    );
    eprintln!(
        "{} requests: {during} up to the reload's end ({reloaded:?}), {after} after, none failed",
        samples.len()
    );
}
