//! Health, readiness, JSON errors, authentication.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

#[actix_web::test]
async fn health_answers_ok_without_a_key() {
    let app = spawn_app().await;
    let resp = app.get("/health", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"status": "ok"}));
}

#[actix_web::test]
async fn server_timing_is_sent_only_when_the_deployment_turns_it_on() {
    // API.md: no internals in a response unless the deployment turns it on.
    let off = spawn_app_with(|a| a.metrics.server_timing = false).await;
    for path in ["/health", "/api/catalog"] {
        let resp = off.get(path, Some(&key(1))).await;
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers().get("server-timing").is_none(),
            "{path} sent Server-Timing by default"
        );
    }
    let on = spawn_app().await; // the tests' servers turn it on
    let resp = on.get("/api/catalog", Some(&key(1))).await;
    assert!(resp.headers().get("server-timing").is_some());
}

#[actix_web::test]
async fn ready_checks_the_database_and_redis() {
    let app = spawn_app().await;
    let resp = app.get("/ready", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"status": "ready", "db": "ok", "redis": "ok"})
    );
}

#[actix_web::test]
async fn ready_reports_a_dead_redis_but_still_asks_for_traffic() {
    // API.md: brisk serves without Redis, so a dead Redis is reported, not a 503.
    let app = spawn_app_with(|a| a.redis.redis_url = "redis://127.0.0.1:1".into()).await;
    let resp = app.get("/ready", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"status": "ready", "db": "ok", "redis": "error"})
    );
}

#[actix_web::test]
async fn ready_ignores_redis_with_the_memory_store() {
    let app = spawn_app_with(|a| {
        a.redis.redis_url = "redis://127.0.0.1:1".into();
        a.redis.store = brisk_kit::startup::Store::Memory;
    })
    .await;
    let resp = app.get("/ready", None).await;
    assert_eq!(resp.status(), 200);
}

#[actix_web::test]
async fn a_repeated_unknown_key_is_refused_without_a_query_each_time() {
    let app = spawn_app().await;
    for _ in 0..3 {
        let resp = app.get("/api/catalog", Some("wrong-key")).await;
        assert_eq!(resp.status(), 401);
    }
    // A login token issued now is accepted at once: only hashes seen before are remembered.
    let resp = app
        .request(
            Method::POST,
            "/api/login",
            None,
            Some(&json!({"email": "admin@tenant1.example", "password": "password"})),
        )
        .await;
    let token = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.get("/api/catalog", Some(&token)).await.status(), 200);
}

#[actix_web::test]
async fn unknown_routes_answer_json_404_with_or_without_a_key() {
    let app = spawn_app().await;
    for (path, k) in [
        ("/nope", None),
        ("/api/nope", None),
        ("/api/nope", Some(key(1))),
        ("/API/catalog", Some(key(1))),
        ("/api/catalog/", Some(key(1))),
    ] {
        let resp = app.get(path, k.as_deref()).await;
        assert_eq!(resp.status(), 404, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
        assert!(body["detail"].is_string());
    }
}

#[actix_web::test]
async fn a_wrong_method_answers_json_405() {
    let app = spawn_app().await;
    let resp = app
        .request(Method::DELETE, "/api/catalog", Some(&key(1)), None)
        .await;
    assert_eq!(resp.status(), 405);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
}

#[actix_web::test]
async fn a_body_over_one_mebibyte_is_refused_before_it_is_read() {
    let app = spawn_app().await;
    let big = vec![b'x'; 1024 * 1024 + 1];
    let resp = app
        .client
        .put(app.url("/api/products/1"))
        .bearer_auth(key(1))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large");
}

#[actix_web::test]
async fn a_streamed_body_over_one_mebibyte_is_refused_too() {
    let app = spawn_app().await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let resp = app
        .client
        .post(app.url("/api/orders"))
        .bearer_auth(key(1))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

#[actix_web::test]
async fn api_routes_require_a_valid_unexpired_key() {
    let app = spawn_app().await;
    let resp = app.get("/api/catalog", None).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "unauthorized");
    assert_eq!(
        app.get("/api/catalog", Some("no-such-key")).await.status(),
        401
    );

    // X-API-Key works as well as Bearer.
    let resp = app
        .client
        .get(app.url("/api/catalog"))
        .header("X-API-Key", key(2))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // An expired key is refused.
    {
        use diesel::RunQueryDsl;
        let mut db = app.db();
        diesel::sql_query(format!(
            "INSERT INTO api_keys (tenant_id, key_hash, label, expires_at) VALUES (1, '{}', 'old', now() - interval '1 minute')",
            brisk::app::sessions::hash_key("expired-key")
        ))
        .execute(&mut db)
        .unwrap();
    }
    let resp = app.get("/api/catalog", Some("expired-key")).await;
    assert_eq!(resp.status(), 401);
}

#[actix_web::test]
async fn login_issues_a_working_key_and_refuses_bad_credentials() {
    let app = spawn_app().await;
    let resp = app
        .request(
            Method::POST,
            "/api/login",
            None,
            Some(&json!({"email": "admin@tenant3.example", "password": "password"})),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["tenant_id"], 3);
    let token = body["token"].as_str().unwrap().to_string();
    let (status, catalog) = {
        let resp = app.get("/api/catalog", Some(&token)).await;
        (resp.status(), resp.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(catalog["tenant_id"], 3);

    for creds in [
        json!({"email": "admin@tenant3.example", "password": "wrong"}),
        json!({"email": "nobody@example.com", "password": "password"}),
    ] {
        let resp = app
            .request(Method::POST, "/api/login", None, Some(&creds))
            .await;
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], "unauthorized");
    }
    let resp = app
        .request(
            Method::POST,
            "/api/login",
            None,
            Some(&json!({"email": "a@b.c"})),
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.json::<Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .contains("password"));
}

#[actix_web::test]
async fn responses_are_compressed_by_accept_encoding() {
    use std::io::Read;
    let app = spawn_app().await;
    let raw = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap();
    let identity = raw
        .get(app.url("/api/catalog"))
        .bearer_auth(key(1))
        .send()
        .await
        .unwrap();
    assert!(identity.headers().get("content-encoding").is_none());
    let plain = identity.bytes().await.unwrap();
    for enc in ["gzip", "br"] {
        // Twice: the second answer comes from the stored variant.
        for _ in 0..2 {
            let resp = raw
                .get(app.url("/api/catalog"))
                .bearer_auth(key(1))
                .header("Accept-Encoding", enc)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["content-encoding"], enc);
            assert_eq!(resp.headers()["vary"], "accept-encoding");
            let packed = resp.bytes().await.unwrap();
            assert!(packed.len() < plain.len());
            let mut out = Vec::new();
            if enc == "gzip" {
                flate2::read::GzDecoder::new(&packed[..])
                    .read_to_end(&mut out)
                    .unwrap();
            } else {
                brotli::Decompressor::new(&packed[..], 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            assert_eq!(out, plain.to_vec(), "{enc}");
        }
    }
    // Small uncached bodies are compressed by the middleware.
    let resp = raw
        .get(app.url("/api/orders?per_page=20"))
        .bearer_auth(key(1))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
}
