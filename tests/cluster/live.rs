//! The live page of the whole cluster, in headless chromium: two processes register
//! in Redis, the page served by one lists both and each route's quantiles merged
//! from both processes' histograms, checked against what the processes' own
//! `/metrics` count; a process that stops answering stays on the page as such.

use crate::harness::{blocking, client, key, Cluster, Member, WITHIN};
use brisk_testkit::browser::{attr_of, run_chromium};
use brisk_testkit::prometheus::samples;
use brisk_testkit::wait::wait_until;
use serde_json::Value;

/// The route the test's traffic goes to.
const ROUTE: &str = "/api/products/{id}";
/// Its merged row on the page.
const ROW: &str = "data-cluster-route=\"GET /api/products/{id}\"";
/// The latency histogram's family.
const BUCKETS: &str = "brisk_http_request_duration_seconds_bucket";

/// The page's process's operations address of `member`, as registered.
fn ops(member: &Member) -> String {
    format!("127.0.0.1:{}", member.admin)
}

/// `/dashboard/cluster.json` from `member`.
async fn cluster_json(member: &Member) -> Value {
    let url = format!("http://{}/dashboard/cluster.json", ops(member));
    let resp = client()
        .get(url)
        .send()
        .await
        .expect("cluster.json answered");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("cluster.json is JSON")
}

/// Processes of `member`'s cluster view in state `ok`.
async fn answering(member: &Member) -> usize {
    let view = cluster_json(member).await;
    let procs = view["processes"].as_array().cloned().unwrap_or_default();
    procs.iter().filter(|p| p["state"] == "ok").count()
}

/// The live page of `member` as chromium leaves it, saved under target/test-artifacts.
async fn page(member: &Member, name: &str) -> String {
    dump(format!("http://{}/dashboard", ops(member)), name).await
}

/// The live page of `member` showing the process at `process` (its "view" link).
async fn page_of(member: &Member, process: &str, name: &str) -> String {
    dump(
        format!("http://{}/dashboard?process={process}", ops(member)),
        name,
    )
    .await
}

/// The DOM of `url` as chromium leaves it, saved under target/test-artifacts as `name`.
async fn dump(url: String, name: &str) -> String {
    let dom = run_chromium(&["--dump-dom".into(), url]).await;
    let dir = crate::harness::root().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    std::fs::write(dir.join(name), &dom).expect("save the page");
    dom
}

/// The summed cumulative latency buckets of `ROUTE` over `scrapes`: `(le seconds, count)`.
fn summed_buckets(scrapes: &[String]) -> Vec<(f64, f64)> {
    let mut sums: Vec<(f64, f64)> = Vec::new();
    let route = format!("route=\"{ROUTE}\"");
    for text in scrapes {
        for (labels, n) in samples(text, BUCKETS) {
            if !labels.contains(&route) {
                continue;
            }
            let le = labels.rsplit("le=\"").next().unwrap().trim_end_matches('"');
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            match sums.iter_mut().find(|(b, _)| *b == le) {
                Some((_, sum)) => *sum += n,
                None => sums.push((le, n)),
            }
        }
    }
    sums.sort_by(|a, b| a.0.total_cmp(&b.0));
    sums
}

/// The bucket bounds (seconds) between which quantile `q` of the summed buckets lies.
fn quantile_bounds(buckets: &[(f64, f64)], q: f64) -> (f64, f64) {
    let total = buckets.last().expect("buckets").1;
    let rank = (q * total).ceil().max(1.0);
    let i = buckets.iter().position(|(_, n)| *n >= rank).unwrap();
    let lower = if i == 0 { 0.0 } else { buckets[i - 1].0 };
    (lower, buckets[i].0)
}

/// Asserts the page's merged quantiles lie in the summed Prometheus buckets that
/// hold them (HDR's 0.1 % precision and a bound's own value allowed for).
fn assert_quantiles_within_summed_buckets(dom: &str, buckets: &[(f64, f64)]) {
    for (attr, q) in [("data-p50", 0.5), ("data-p95", 0.95), ("data-p99", 0.99)] {
        let ms: f64 = attr_of(dom, ROW, attr).unwrap().parse().unwrap();
        let (lo, hi) = quantile_bounds(buckets, q);
        let s = ms / 1000.0;
        assert!(
            s >= lo * 0.99 && s <= hi * 1.01,
            "{attr} = {ms} ms, outside the summed buckets' ({lo} s, {hi} s]: {buckets:?}"
        );
    }
}

/// 120 reads of `ROUTE` through nginx, and 7 more straight to the second process (so
/// the processes' counts differ).
async fn send_traffic(cluster: &Cluster) {
    let http = client();
    let through_nginx = (0..120).map(|i| cluster.url(&format!("/api/products/{}", 21 + i % 20)));
    let second = &cluster.members[1].brisk;
    let direct = (0..7).map(|i| second.url(&format!("/api/products/{}", 21 + i)));
    for url in through_nginx.chain(direct) {
        let resp = http.get(url).bearer_auth(key(2)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
}

/// Each member's count of `ROUTE` from its own `/metrics`, and the scrapes.
async fn own_counts(members: &[&Member]) -> (Vec<u64>, Vec<String>) {
    let label = format!("route=\"{ROUTE}\"");
    let mut counts = Vec::new();
    let mut scrapes = Vec::new();
    for m in members {
        let text = m.metrics().await;
        let n = brisk_testkit::prometheus::sum(&text, "brisk_http_requests_total", &label);
        counts.push(n.unwrap_or(0.0) as u64);
        scrapes.push(text);
    }
    (counts, scrapes)
}

#[tokio::test]
#[ignore = "needs nginx and chromium: make test-cluster"]
async fn the_live_page_shows_every_process_and_quantiles_merged_from_their_histograms() {
    let mut cluster = blocking(|| Cluster::start(2, &[])).await;
    send_traffic(&cluster).await;
    // Both processes registered and answer each other.
    let both = wait_until(WITHIN, || async {
        answering(&cluster.members[0]).await == 2
    });
    assert!(
        both.await.is_some(),
        "{}",
        cluster_json(&cluster.members[0]).await
    );
    // The page lists processes by address; the processes' own counts, in that order.
    let mut members: Vec<&Member> = cluster.members.iter().collect();
    members.sort_by_key(|m| ops(m));
    let (counts, scrapes) = own_counts(&members).await;
    assert_eq!(counts.iter().sum::<u64>(), 127);
    assert!(counts.iter().all(|&n| n > 0), "nginx used both: {counts:?}");

    let dom = page(&cluster.members[0], "cluster-dashboard.html").await;
    assert_eq!(
        attr_of(&dom, "id=\"cluster\"", "data-state").as_deref(),
        Some("ok")
    );
    assert_eq!(
        attr_of(&dom, "id=\"cluster\"", "data-processes").as_deref(),
        Some("2")
    );
    for m in &members {
        let marker = format!("data-process=\"{}\"", ops(m));
        assert_eq!(attr_of(&dom, &marker, "data-state").as_deref(), Some("ok"));
        assert_eq!(
            attr_of(&dom, &marker, "data-pid"),
            Some(m.brisk.pid().to_string())
        );
    }
    assert_eq!(attr_of(&dom, ROW, "data-count").as_deref(), Some("127"));
    let per_process = format!("{},{}", counts[0], counts[1]);
    assert_eq!(attr_of(&dom, ROW, "data-per-process"), Some(per_process));
    assert_quantiles_within_summed_buckets(&dom, &summed_buckets(&scrapes));

    // One process's own view, a click away: the other's data through the page's process.
    let other = &cluster.members[1];
    let own = other.answered(ROUTE).await as u64;
    let dom = page_of(
        &cluster.members[0],
        &ops(other),
        "cluster-dashboard-peer.html",
    )
    .await;
    assert_eq!(
        attr_of(&dom, "id=\"status\"", "data-state").as_deref(),
        Some("ok")
    );
    let row = format!("data-route=\"{ROUTE}\"");
    assert_eq!(attr_of(&dom, &row, "data-count"), Some(own.to_string()));

    // A process that stops answering stays listed, as not answering, counted nowhere.
    let (survivor, gone) = (0, 1);
    let gone_ops = ops(&cluster.members[gone]);
    cluster.members[gone].brisk.proc.kill();
    let dom = page(
        &cluster.members[survivor],
        "cluster-dashboard-one-killed.html",
    )
    .await;
    let marker = format!("data-process=\"{gone_ops}\"");
    assert_eq!(
        attr_of(&dom, &marker, "data-state").as_deref(),
        Some("unreachable")
    );
    let left = cluster.members[survivor].answered(ROUTE).await as u64;
    assert_eq!(attr_of(&dom, ROW, "data-count"), Some(left.to_string()));
}
