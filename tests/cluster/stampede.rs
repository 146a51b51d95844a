//! Single-flight across processes, counted by PostgreSQL: a stampede on one cold
//! summary through nginx runs the aggregate once for the whole cluster.
//!
//! The count: the summary's aggregate is the only statement of the test that reads
//! `order_items`, so `seq_scan + idx_scan` of `order_items` in `pg_stat_user_tables`
//! grows by a fixed number per execution (its plan's scans of the table), measured on
//! a cluster that answers one request. The databases are fresh (their statistics start
//! at zero) and warming is off, so nothing else reads the table.
//! PostgreSQL 15 backends publish their counts when idle, up to seconds later, and
//! always when they exit: the test stops the brisk processes, terminates the
//! database's backends and waits for their OS processes to be gone before it reads.

use crate::harness::{blocking, client, key, Cluster, DIRECT, WITHIN};
use brisk_testkit::template::psql;
use brisk_testkit::wait::poll_until;
use futures_util::future::join_all;

/// `seq_scan + idx_scan` of `order_items` once every backend of `db` has exited.
fn order_items_scans_after_backends_exit(db: &str) -> i64 {
    let admin = format!("{DIRECT}/postgres");
    let pids = psql(
        &admin,
        &format!(
            "SELECT pid FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid();
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
        ),
    );
    let pids: Vec<String> = pids
        .lines()
        .filter(|l| l.chars().all(|c| c.is_ascii_digit()) && !l.is_empty())
        .map(String::from)
        .collect();
    // A backend publishes its counts on exit, after it leaves pg_stat_activity: its
    // OS process gone (PostgreSQL runs on this host) is the sure sign.
    let gone = poll_until(WITHIN, || {
        pids.iter()
            .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
    });
    assert!(gone, "backends {pids:?} of {db} did not exit");
    let scans = psql(
        &format!("{DIRECT}/{db}"),
        "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0)
           FROM pg_stat_user_tables WHERE relname = 'order_items'",
    );
    scans.parse().expect("a scan count")
}

/// `n` concurrent GETs of tenant 2's product 25 summary through nginx on a fresh
/// cluster; the aggregate's executions counted by PostgreSQL.
async fn summary_requests_then_count(n: usize) -> i64 {
    let mut cluster = blocking(|| Cluster::start(2, &["--warm-disabled"])).await;
    let url = cluster.url("/api/products/25/summary");
    let http = client();
    let sends = (0..n).map(|_| {
        let req = http.get(&url).bearer_auth(key(2));
        async move {
            let sent = std::time::Instant::now();
            let status = req.send().await.map_or(0, |r| r.status().as_u16());
            (status, sent.elapsed())
        }
    });
    let (statuses, mut took): (Vec<u16>, Vec<_>) = join_all(sends).await.into_iter().unzip();
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    took.sort_unstable();
    let at = |p: f64| took[((took.len() as f64 * p).ceil() as usize).clamp(1, took.len()) - 1];
    eprintln!(
        "{n} requests: p50 {:?} p99 {:?} max {:?}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    if n > 1 {
        for (i, member) in cluster.members.iter().enumerate() {
            let answered = member.answered("/api/products/{id}/summary").await;
            assert!(
                answered > 0.0,
                "process {} answered none of the stampede",
                i + 1
            );
        }
    }
    // Nothing may query while the counts are read: stop the processes first.
    for member in &mut cluster.members {
        member.brisk.proc.kill();
    }
    let db = cluster.db.clone();
    blocking(move || order_items_scans_after_backends_exit(&db)).await
}

#[tokio::test]
#[ignore = "needs nginx: make test-cluster"]
async fn a_200_request_stampede_on_a_cold_summary_runs_the_aggregate_once_per_cluster() {
    // What one execution of the aggregate counts (its plan may read the table more
    // than once), on a cluster of its own: same template, same statistics, same plan.
    let once = summary_requests_then_count(1).await;
    assert!(once > 0, "one summary request read no order_items");
    let stampede = summary_requests_then_count(200).await;
    eprintln!("order_items scans: one request {once}, 200 concurrent requests {stampede}");
    assert_eq!(
        stampede, once,
        "200 requests counted {stampede} scans, one execution counts {once}"
    );
}
