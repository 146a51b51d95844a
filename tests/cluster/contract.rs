//! API.md through nginx: the errors nginx answers itself are API.md's JSON errors,
//! and brisk's own answers pass through untouched.

use crate::harness::{blocking, client, key, Cluster};
use serde_json::Value;

/// Status and JSON body of a response.
async fn json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body = resp.json().await.expect("a JSON body");
    (status, body)
}

#[tokio::test]
#[ignore = "needs nginx: make test-cluster"]
async fn errors_nginx_answers_itself_are_json_like_brisks_own() {
    let mut cluster = blocking(|| Cluster::start(2, &[])).await;
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
