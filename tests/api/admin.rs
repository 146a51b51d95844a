//! Operations endpoints (API.md "Operations endpoints"): on the API listener by
//! default; with `--admin-bind`, on a second listener only, the API listener
//! answering them 404. An application's own operations routes follow the kit's.

use crate::helpers::*;
use actix_web::{web, HttpResponse};
use brisk::order_api;
use brisk_testkit::raw::{get, RawConn};
use serde_json::{json, Value};
use std::time::Duration;

/// The kit's operations paths and the content type each answers with.
const OPERATIONS: [(&str, &str); 6] = [
    ("/metrics", "text/plain"),
    ("/dashboard", "text/html"),
    ("/dashboard/data.json", "application/json"),
    ("/dashboard/app.js", "text/javascript"),
    ("/dashboard/style.css", "text/css"),
    ("/ready", "application/json"),
];

/// The order API plus one application operations route, `/ops-extra`.
async fn spawn_with_extra(admin: bool) -> TestApp {
    let db = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    spawn_mounted(
        &db,
        |a| {
            if admin {
                a.server.admin_bind = Some("127.0.0.1:0".parse().unwrap());
            }
        },
        |services, key| {
            order_api::mount(services, key).operations(|cfg| {
                cfg.route(
                    "/ops-extra",
                    web::get().to(|| async { HttpResponse::Ok().json(json!({"extra": true})) }),
                );
            })
        },
    )
    .await
}

async fn status_and_type(client: &reqwest::Client, url: &str) -> (u16, String) {
    let resp = client.get(url).send().await.expect("request");
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (resp.status().as_u16(), kind)
}

#[actix_web::test]
async fn operations_endpoints_are_on_the_api_listener_by_default() {
    let app = spawn_with_extra(false).await;
    assert_eq!(app.admin_port, None);
    for (path, kind) in OPERATIONS
        .iter()
        .chain(&[("/ops-extra", "application/json")])
    {
        let (status, got) = status_and_type(&app.client, &app.url(path)).await;
        assert_eq!(status, 200, "{path}");
        assert!(got.starts_with(kind), "{path}: {got}");
    }
}

#[actix_web::test]
async fn with_admin_bind_operations_endpoints_move_to_their_own_listener() {
    let app = spawn_with_extra(true).await;
    let admin = format!(
        "http://127.0.0.1:{}",
        app.admin_port.expect("an admin port")
    );
    for (path, kind) in OPERATIONS
        .iter()
        .chain(&[("/ops-extra", "application/json")])
    {
        // Gone from the API listener: a JSON 404, like any unknown route.
        let resp = app.get(path, None).await;
        assert_eq!(resp.status(), 404, "{path} on the API listener");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
        // Served on the operations listener.
        let (status, got) = status_and_type(&app.client, &format!("{admin}{path}")).await;
        assert_eq!(status, 200, "{path} on the operations listener");
        assert!(got.starts_with(kind), "{path}: {got}");
    }
    let ready: Value = app
        .client
        .get(format!("{admin}/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready, json!({"status": "ready", "db": "ok", "redis": "ok"}));
    // Liveness on both; the API itself only on the API listener.
    assert_eq!(app.get("/health", None).await.status(), 200);
    let (status, _) = status_and_type(&app.client, &format!("{admin}/health")).await;
    assert_eq!(status, 200);
    let (status, _) = status_and_type(&app.client, &format!("{admin}/api/catalog")).await;
    assert_eq!(status, 404);
    let (status, body) = app.get_json("/api/catalog", 2).await;
    assert_eq!(status, 200, "{body}");
    // API traffic is measured, on the operations listener.
    let metrics = app
        .client
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("/api/catalog"), "{metrics}");
    // A plain HTTP/1.1 client is served there too.
    let mut conn = RawConn::connect(app.admin_port.unwrap()).await;
    conn.send(&get("/health")).await;
    let resp = conn.response(Duration::from_secs(10)).await.unwrap();
    assert_eq!(resp.status, 200);
}

#[actix_web::test]
async fn an_advertised_address_is_what_the_process_registers_for_the_others() {
    let app = spawn_app_with(|a| a.server.advertise = Some("ops-a.internal:9091".into())).await;
    let registry = brisk_kit::peers::registry::Registry::new(
        app.state.redis.clone(),
        brisk_kit::peers::DEFAULT_RETENTION,
    );
    let registered = brisk_testkit::wait::wait_until(Duration::from_secs(30), || async {
        registry
            .entries()
            .await
            .map(|e| e.iter().any(|e| e.member.ops == "ops-a.internal:9091"))
            .unwrap_or(false)
    })
    .await;
    assert!(registered.is_some(), "{:?}", registry.entries().await);
}

#[test]
fn an_advertised_address_without_a_port_is_refused_naming_the_flag() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args(["serve", "--advertise", "ops-a.internal"])
        .output()
        .expect("run brisk serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--advertise") && err.contains("expected host:port"),
        "{err}"
    );
}
