//! The request pipeline against a hostile client, on a raw socket (API.md
//! "Conventions", "Hostile input"): an `Accept-Encoding` that refuses every coding,
//! chunked framing that breaks in the packet of the head, and `HEAD`.

use crate::helpers::*;
use brisk_testkit::raw::{get, RawConn, RawResponse};
use std::time::Duration;

/// Ample time for an answer that is due.
const DUE: Duration = Duration::from_secs(10);
/// Refuses identity and every other coding (RFC 9110 §12.5.3).
const REFUSES_EVERY_CODING: &str = "identity;q=0, *;q=0";

/// `method path` with `headers`, no body, keep-alive.
fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: brisk\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// One request on a fresh connection, written in one piece.
async fn exchange(app: &TestApp, bytes: &[u8]) -> RawResponse {
    let mut conn = RawConn::connect(app.port).await;
    conn.send(bytes).await;
    conn.response(DUE)
        .await
        .expect("an answer, not a closed connection")
}

fn assert_json_error(resp: &RawResponse, status: u16, code: &str) {
    let body = String::from_utf8_lossy(&resp.body);
    assert_eq!(resp.status, status, "{body}");
    assert_eq!(
        resp.header("content-type"),
        Some("application/json"),
        "{body}"
    );
    assert_eq!(resp.json()["error"], code, "{body}");
    assert!(resp.json()["detail"].is_string(), "{body}");
}

#[actix_web::test]
async fn an_accept_encoding_refusing_every_coding_is_served_identity_after_auth_and_routing() {
    let app = spawn_app().await;
    let refuse = ("Accept-Encoding", REFUSES_EVERY_CODING);
    let resp = exchange(&app, &request("GET", "/api/catalog", &[refuse])).await;
    assert_json_error(&resp, 401, "unauthorized");

    let resp = exchange(&app, &request("GET", "/api/no-such-route", &[refuse])).await;
    assert_json_error(&resp, 404, "not_found");

    let key = format!("Bearer {}", key(2));
    let auth = ("Authorization", key.as_str());
    let resp = exchange(&app, &request("GET", "/api/catalog", &[refuse, auth])).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.header("content-encoding"), None, "identity is served");
    assert_eq!(resp.json()["tenant_id"], 2);
    assert!(resp.header("x-ratelimit-limit").is_some(), "{resp:?}");

    let resp = exchange(&app, &request("GET", "/health", &[refuse])).await;
    assert_eq!(
        (resp.status, resp.json()["status"].as_str()),
        (200, Some("ok"))
    );
}

/// `POST /api/orders` with a chunked body: a valid first chunk (a JSON fragment), then `rest`.
fn chunked_order(rest: &str) -> Vec<u8> {
    let first = r#"{"customer_id": 1, "#;
    format!(
        "POST /api/orders HTTP/1.1\r\nHost: brisk\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{first}\r\n{rest}",
        key(2),
        first.len()
    )
    .into_bytes()
}

#[actix_web::test]
async fn chunked_framing_that_breaks_in_the_packet_of_the_head_is_a_json_400() {
    let app = spawn_app().await;
    for (case, rest) in [
        ("a chunk-size line that is not hex", "zz\r\n"),
        ("a last chunk ending in a bare LF", "0\n\r\n"),
    ] {
        let request = chunked_order(rest);
        let head_end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        // In one write (the server has it all in its first read), then the head and
        // the body in two writes: the same answer however the bytes arrive.
        for writes in [
            vec![&request[..]],
            vec![&request[..head_end], &request[head_end..]],
        ] {
            let mut conn = RawConn::connect(app.port).await;
            for bytes in &writes {
                conn.send(bytes).await;
            }
            let resp = conn.response(DUE).await.unwrap_or_else(|| {
                panic!("{case} in {} write(s): closed unanswered", writes.len())
            });
            assert_json_error(&resp, 400, "bad_request");
        }
    }
}

#[actix_web::test]
async fn head_is_answered_wherever_get_is_with_the_same_headers_and_no_body() {
    let app = spawn_app().await;
    let key = format!("Bearer {}", key(2));
    let auth = ("Authorization", key.as_str());
    // Each HEAD is followed by a GET on the same connection: a body after the HEAD's
    // head would be read as the GET's status line.
    for (path, headers, status) in [
        ("/health", vec![], 200),
        ("/api/catalog", vec![auth], 200),
        ("/api/no-such-route", vec![auth], 404),
        ("/api/no-such-route", vec![], 404),
        ("/api/login", vec![], 405),
    ] {
        let mut conn = RawConn::connect(app.port).await;
        conn.send(&request("HEAD", path, &headers)).await;
        let head = conn.head_response(DUE).await.expect("a HEAD answer");
        conn.send(&request("GET", path, &headers)).await;
        let full = conn.response(DUE).await.expect("the GET after the HEAD");
        assert_eq!((head.status, full.status), (status, status), "{path}");
        for name in ["content-length", "content-type", "etag", "cache-control"] {
            assert_eq!(head.header(name), full.header(name), "{path}: {name}");
        }
        let length: usize = full.header("content-length").unwrap().parse().unwrap();
        assert_eq!(length, full.body.len(), "{path}");
        assert!(length > 0, "{path}: the GET has a body the HEAD left out");
        if path == "/api/catalog" {
            assert!(head.header("etag").is_some());
            assert!(head.header("x-ratelimit-limit").is_some(), "{head:?}");
        }
        // And the connection is still in step for a third request.
        conn.send(&get("/health")).await;
        assert_eq!(conn.response(DUE).await.unwrap().status, 200, "{path}");
    }
}
