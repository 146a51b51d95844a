//! Limits across processes, through nginx: the plan limit is one count for the
//! cluster, and a per-address limit counts the address nginx saw, whatever the
//! client writes in `X-Forwarded-For`.

use crate::harness::{blocking, client, key, Cluster};
use futures_util::future::join_all;
use std::net::IpAddr;
use std::time::Duration;

/// Statuses of `n` concurrent GETs of `url` with `key`.
async fn burst(url: &str, key: &str, n: usize) -> Vec<u16> {
    let http = client();
    let sends = (0..n).map(|_| {
        let req = http.get(url).bearer_auth(key);
        async move { req.send().await.map_or(0, |r| r.status().as_u16()) }
    });
    join_all(sends).await
}

#[tokio::test]
#[ignore = "needs nginx: make test-cluster"]
async fn the_free_plan_admits_exactly_60_of_a_burst_split_over_two_processes_through_nginx() {
    let cluster = blocking(|| Cluster::start(2, &[])).await;
    // Tenant 1 is on the free plan: 60 per minute, one bucket across its routes and
    // across the processes. The key's bucket is empty (a fresh Redis prefix).
    let statuses = burst(&cluster.url("/api/catalog"), &key(1), 150).await;
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((ok, limited), (60, 90), "statuses: {statuses:?}");
    // nginx spread the burst over both processes.
    for (i, member) in cluster.members.iter().enumerate() {
        let answered = member.answered("/api/catalog").await;
        assert!(
            answered > 0.0,
            "process {} answered none of the burst",
            i + 1
        );
    }
}

/// A client whose connections leave from `local` (nginx sees that as the client).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(local.parse::<IpAddr>().expect("an address"))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build a client")
}

/// Status of a login of tenant 1's admin through `http`, with `X-Forwarded-For: xff`.
async fn login(http: &reqwest::Client, url: &str, xff: Option<&str>) -> u16 {
    let body = serde_json::json!({"email": "admin@tenant1.example", "password": "password"});
    let mut req = http.post(url).json(&body);
    if let Some(xff) = xff {
        req = req.header("X-Forwarded-For", xff);
    }
    req.send()
        .await
        .expect("a login answered")
        .status()
        .as_u16()
}

#[tokio::test]
#[ignore = "needs nginx: make test-cluster"]
async fn a_spoofed_forwarded_for_cannot_choose_the_login_bucket_of_its_real_address() {
    let cluster = blocking(|| Cluster::start(2, &[])).await;
    let url = cluster.url("/api/login");
    // Login: 5 per minute per client address. From 127.0.0.2, every attempt names
    // another address in X-Forwarded-For; nginx appends the real one, which brisk
    // (--trusted-hops 1) counts.
    let spoofer = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for n in 0..8 {
        let spoof = format!("203.0.113.{n}, 198.51.100.{n}");
        statuses.push(login(&spoofer, &url, Some(&spoof)).await);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    // Another real address has its own bucket, even when it claims the spoofer's.
    let other = client_from("127.0.0.3");
    assert_eq!(login(&other, &url, None).await, 200);
    assert_eq!(login(&other, &url, Some("127.0.0.2")).await, 200);
    // Both processes took part: the bucket is the cluster's, not one process's.
    for (i, member) in cluster.members.iter().enumerate() {
        let answered = member.answered("/api/login").await;
        assert!(answered > 0.0, "process {} answered no login", i + 1);
    }
}
