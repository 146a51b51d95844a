//! API.md through nginx: the errors nginx answers itself (413, 502) are API.md's JSON
//! errors, brisk's own pass through untouched (404, 401, and the 408 of a body that
//! stops arriving: bodies stream to brisk), and the operations endpoints are not public.

use crate::harness::{blocking, client, key, Cluster};
use brisk_testkit::raw::RawConn;
use serde_json::Value;
use std::time::Duration;

/// Status and JSON body of a response.
async fn json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body = resp.json().await.expect("a JSON body");
    (status, body)
}

#[tokio::test]
#[ignore = "needs nginx: make test-cluster"]
async fn errors_through_nginx_are_api_json_whoever_answers_them() {
    // brisk's body deadline at 1 s (nginx's own, between reads, stays at 12 s).
    let mut cluster = blocking(|| Cluster::start(2, &["--body-timeout-ms", "1000"])).await;
    let http = client();
    // A body over 1 MiB: nginx's 413, before any process sees it.
    let big = vec![b' '; 1024 * 1024 + 1];
    let resp = http
        .post(cluster.url("/api/orders"))
        .bearer_auth(key(2))
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .await
        .expect("answered");
    let (status, body) = json(resp).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("payload_too_large"))
    );
    // brisk's own errors pass through: an unknown route, a missing key.
    let (status, body) = json(http.get(cluster.url("/api/nope")).send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, body) = json(http.get(cluster.url("/api/catalog")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    // A body that stops arriving: brisk's 408 JSON reaches the client through nginx.
    let port: u16 = cluster.public.rsplit(':').next().unwrap().parse().unwrap();
    let mut conn = RawConn::connect(port).await;
    let head = "POST /api/orders HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer demo-key-2\r\n\
                Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"customer";
    conn.send(head.as_bytes()).await;
    let late = conn
        .response(Duration::from_secs(10))
        .await
        .expect("an answer");
    assert_eq!(late.status, 408);
    assert_eq!(late.json()["error"], "request_timeout");
    // The operations endpoints are not on the public address.
    let metrics = http.get(cluster.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 404);
    // No process left: nginx's 502, as JSON.
    for member in &mut cluster.members {
        member.brisk.proc.kill();
    }
    let resp = http.get(cluster.url("/health")).send().await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!((status, body["error"].as_str()), (502, Some("bad_gateway")));
    assert!(body["detail"].is_string(), "{body}");
}
