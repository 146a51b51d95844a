//! Per-client limits key IPv6 clients by their /64 (IPv4-mapped addresses first
//! normalized to IPv4): a subscriber's /64 gets one bucket, not 2^64.

use crate::helpers::*;
use serde_json::json;

/// A login from `forwarded_for` (one trusted hop) with a malformed body: charged to
/// the per-IP login limit, no password hashed. Returns `X-RateLimit-Remaining`.
async fn login_remaining(app: &TestApp, forwarded_for: &str) -> (u16, String) {
    let resp = app
        .client
        .post(app.url("/api/login"))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({}))
        .send()
        .await
        .expect("request failed");
    let remaining = resp
        .headers()
        .get("x-ratelimit-remaining")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (resp.status().as_u16(), remaining)
}

#[actix_web::test]
async fn ipv6_clients_share_a_bucket_per_64_and_mapped_ipv4_is_ipv4() {
    let app = spawn_app_with(|a| {
        a.redis.redis_timeout_ms = 2_000;
        a.server.trusted_hops = 1;
    })
    .await;
    // Login: 5 per minute per client. Five addresses of one /64 are one client.
    let mut seen = Vec::new();
    for host in [
        "1",
        "2",
        "ffff:ffff:ffff:ffff",
        "abcd:0:0:1",
        "[2001:db8:7:8::99]:443",
    ] {
        let addr = if host.starts_with('[') {
            host.to_string()
        } else if host.contains(':') {
            format!("2001:db8:7:8:{host}")
        } else {
            format!("2001:db8:7:8::{host}")
        };
        seen.push(login_remaining(&app, &addr).await);
    }
    let remaining: Vec<&str> = seen.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(remaining, ["4", "3", "2", "1", "0"], "{seen:?}");
    let (status, _) = login_remaining(&app, "2001:db8:7:8::1234").await;
    assert_eq!(status, 429, "the /64's sixth login");
    // The neighbouring /64 is another client.
    assert_eq!(
        login_remaining(&app, "2001:db8:7:9::1").await,
        (400, "4".into())
    );
    // An IPv4-mapped IPv6 address is its IPv4 address.
    assert_eq!(login_remaining(&app, "::ffff:203.0.113.9").await.1, "4");
    assert_eq!(login_remaining(&app, "203.0.113.9").await.1, "3");
    assert_eq!(login_remaining(&app, "203.0.113.10").await.1, "4");
}
