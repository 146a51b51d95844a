//! Slow clients (API.md "Hostile input"): a head not complete within the header
//! deadline → 408, a body not complete within the body deadline → 408 and the
//! connection closed, on every request of a keep-alive connection, against a real socket.

use crate::helpers::*;
use brisk_testkit::raw::{get, RawConn};
use std::time::Duration;
use tokio::time::Instant;

const HEADER_MS: u64 = 600;
const BODY_MS: u64 = 1200;
/// Ample time for an answer that is due.
const DUE: Duration = Duration::from_secs(10);

async fn spawn_with_short_deadlines() -> TestApp {
    spawn_app_with(|a| {
        a.server.header_timeout_ms = HEADER_MS;
        a.server.body_timeout_ms = BODY_MS;
    })
    .await
}

const STALLED_HEAD: &[u8] = b"GET /health HTTP/1.1\r\nHost: brisk\r\nX-Slow: 1\r\n";
const STALLED_BODY: &[u8] = b"POST /api/login HTTP/1.1\r\nHost: brisk\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"email\": \"ad";

#[actix_web::test]
async fn a_stalled_head_is_a_408_on_the_first_and_on_a_later_request_of_a_connection() {
    let app = spawn_with_short_deadlines().await;
    // The first request of a connection.
    let mut conn = RawConn::connect(app.port).await;
    conn.send(STALLED_HEAD).await;
    let resp = conn.response(DUE).await.expect("a 408, not a close");
    assert_eq!(resp.status, 408);
    assert!(conn.closed_within(DUE).await, "the connection is closed");

    // The second request of a keep-alive connection (actix times only the first).
    let mut conn = RawConn::connect(app.port).await;
    conn.send(&get("/health")).await;
    assert_eq!(conn.response(DUE).await.unwrap().status, 200);
    conn.send(STALLED_HEAD).await;
    let started = Instant::now();
    let resp = conn.response(DUE).await.expect("a 408, not a close");
    assert_eq!(resp.status, 408);
    assert!(
        started.elapsed() >= Duration::from_millis(HEADER_MS - 100),
        "408 after {:?}, before the deadline",
        started.elapsed()
    );
    assert!(conn.closed_within(DUE).await, "the connection is closed");
}

#[actix_web::test]
async fn a_stalled_body_is_a_408_that_closes_the_connection_on_every_request() {
    let app = spawn_with_short_deadlines().await;
    let mut conn = RawConn::connect(app.port).await;
    conn.send(STALLED_BODY).await;
    let resp = conn.response(DUE).await.expect("a 408, not a close");
    assert_eq!(resp.status, 408);
    assert_eq!(resp.json()["error"], "request_timeout", "{:?}", resp.body);
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(conn.closed_within(DUE).await, "the connection is closed");

    // The third request of a keep-alive connection.
    let mut conn = RawConn::connect(app.port).await;
    for _ in 0..2 {
        conn.send(&get("/health")).await;
        assert_eq!(conn.response(DUE).await.unwrap().status, 200);
    }
    conn.send(STALLED_BODY).await;
    let started = Instant::now();
    let resp = conn.response(DUE).await.expect("a 408, not a close");
    assert_eq!(resp.status, 408);
    assert!(started.elapsed() >= Duration::from_millis(BODY_MS - 100));
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(conn.closed_within(DUE).await, "the connection is closed");
}

#[actix_web::test]
async fn slow_but_timely_clients_and_idle_keep_alive_connections_are_served() {
    let app = spawn_with_short_deadlines().await;
    let mut conn = RawConn::connect(app.port).await;
    conn.send(&get("/health")).await;
    assert_eq!(conn.response(DUE).await.unwrap().status, 200);
    // Idle longer than the header deadline (not the keep-alive time): still open.
    tokio::time::sleep(Duration::from_millis(HEADER_MS + 300)).await;
    // A head in pieces, complete within its deadline.
    let head = get("/health");
    let (a, b) = head.split_at(10);
    conn.send(a).await;
    tokio::time::sleep(Duration::from_millis(HEADER_MS / 3)).await;
    conn.send(b).await;
    assert_eq!(conn.response(DUE).await.unwrap().status, 200);
    // A body in pieces, complete within its deadline: the handler runs (bad credentials).
    let body = br#"{"email":"nobody@example.com","password":"wrong"}"#;
    let head = format!(
        "POST /api/login HTTP/1.1\r\nHost: brisk\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.send(head.as_bytes()).await;
    conn.send(&body[..10]).await;
    tokio::time::sleep(Duration::from_millis(BODY_MS / 3)).await;
    conn.send(&body[10..]).await;
    let resp = conn.response(DUE).await.unwrap();
    assert_eq!(
        resp.status,
        401,
        "{:?}",
        String::from_utf8_lossy(&resp.body)
    );
    // Still the same connection.
    conn.send(&get("/health")).await;
    assert_eq!(conn.response(DUE).await.unwrap().status, 200);
}
