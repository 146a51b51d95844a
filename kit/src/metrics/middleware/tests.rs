//! The middleware against an actix test service: labels by route pattern, request
//! ids, errors, a streamed body timed to its end, and the endpoints it feeds.

use super::*;
use crate::metrics::CacheEvent;
use actix_web::http::header::HeaderValue;
use actix_web::{test, web, App, HttpResponse};
use bytes::Bytes;
use futures_util::stream;
use std::time::Duration;

async fn product(path: web::Path<u64>) -> HttpResponse {
    let mut res = HttpResponse::Ok().body(format!("product {}", path.into_inner()));
    res.extensions_mut().insert(CacheEvent::Hit);
    res
}

async fn failing() -> Result<HttpResponse, Error> {
    Err(actix_web::error::ErrorInternalServerError("boom"))
}

async fn streamed() -> HttpResponse {
    let chunks = stream::unfold(0u8, |n| async move {
        if n == 3 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        Some((Ok::<_, Error>(Bytes::from_static(b"chunk\n")), n + 1))
    });
    HttpResponse::Ok().streaming(chunks)
}

fn line_value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

macro_rules! app {
    ($metrics:expr) => {
        test::init_service(
            App::new()
                .wrap(
                    RequestMetrics::new($metrics.clone(), AccessLogSettings::default())
                        .with_server_timing(true),
                )
                .configure(crate::metrics::endpoints($metrics.clone()))
                .service(
                    web::scope("/api")
                        .route("/products/{id}", web::get().to(product))
                        .route("/fail", web::get().to(failing))
                        .route("/export.csv", web::get().to(streamed)),
                ),
        )
        .await
    };
}

#[actix_web::test]
async fn a_request_is_labelled_by_its_route_pattern_not_its_path() {
    let metrics = Metrics::new();
    let app = app!(metrics);
    for id in [7, 8, 9] {
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri(&format!("/api/products/{id}"))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 200);
        test::read_body(res).await;
    }
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/no/such/page/123")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 404);
    test::read_body(res).await;

    let text = metrics.render_prometheus();
    assert_eq!(
        line_value(
            &text,
            r#"brisk_http_requests_total{method="GET",route="/api/products/{id}",status="2xx"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        line_value(
            &text,
            r#"brisk_http_requests_total{method="GET",route="unmatched",status="4xx"}"#
        ),
        Some(1.0)
    );
    assert!(!text.contains("/api/products/7"), "no raw path in labels");
    assert!(!text.contains("/no/such/page"), "no raw path in labels");
    assert_eq!(metrics.in_flight(), 0);
}

#[actix_web::test]
async fn the_request_id_is_echoed_when_sane_and_generated_otherwise() {
    let metrics = Metrics::new();
    let app = app!(metrics);
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/api/products/1")
            .insert_header(("x-request-id", "abc-123"))
            .to_request(),
    )
    .await;
    assert_eq!(res.headers().get("x-request-id").unwrap(), "abc-123");
    let timing = res
        .headers()
        .get("server-timing")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        timing.starts_with("db;dur=0.000;desc=\"0 statements\", total;dur="),
        "{timing}"
    );

    let mut ids = vec![];
    for bad in ["has space", "quote\"d", &"x".repeat(200)] {
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/api/products/1")
                .insert_header(("x-request-id", bad))
                .to_request(),
        )
        .await;
        let id = res
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 24, "generated id {id}");
        assert!(
            id.bytes().all(|b| b.is_ascii_hexdigit()),
            "generated id {id}"
        );
        ids.push(id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "generated ids are unique");
}

#[actix_web::test]
async fn handler_errors_are_measured_as_server_errors() {
    let metrics = Metrics::new();
    let app = app!(metrics);
    let res =
        test::call_service(&app, test::TestRequest::get().uri("/api/fail").to_request()).await;
    assert_eq!(res.status(), 500);
    assert!(res.headers().contains_key("x-request-id"));
    test::read_body(res).await;
    let text = metrics.render_prometheus();
    assert_eq!(
        line_value(
            &text,
            r#"brisk_http_requests_total{method="GET",route="/api/fail",status="5xx"}"#
        ),
        Some(1.0)
    );
}

#[actix_web::test]
async fn a_streamed_body_is_timed_until_its_end() {
    let metrics = Metrics::new();
    let app = app!(metrics);
    let res = test::call_service(
        &app,
        test::TestRequest::get().uri("/api/export.csv").to_request(),
    )
    .await;
    // Headers are out but the body is not: still in flight, not yet recorded.
    assert_eq!(metrics.in_flight(), 1);
    let text = metrics.render_prometheus();
    assert!(!text.contains("/api/export.csv"));
    let body = test::read_body(res).await;
    assert_eq!(body.len(), 18);
    assert_eq!(metrics.in_flight(), 0);
    let text = metrics.render_prometheus();
    let sum = line_value(
        &text,
        r#"brisk_http_request_duration_seconds_sum{method="GET",route="/api/export.csv"}"#,
    )
    .unwrap();
    assert!(
        sum >= 0.060,
        "three 20 ms chunks are inside the measured time: {sum}"
    );
}

#[actix_web::test]
async fn the_metrics_and_dashboard_endpoints_answer() {
    let metrics = Metrics::new();
    metrics.cache(CacheEvent::Hit);
    let app = app!(metrics);
    test::read_body(
        test::call_service(
            &app,
            test::TestRequest::get().uri("/api/products/5").to_request(),
        )
        .await,
    )
    .await;

    let res = test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        crate::metrics::prometheus::CONTENT_TYPE
    );
    test::read_body(res).await;
    let res = test::call_service(
        &app,
        test::TestRequest::get().uri("/dashboard").to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let html = test::read_body(res).await;
    assert!(std::str::from_utf8(&html)
        .unwrap()
        .contains("/dashboard/app.js"));
    let data: serde_json::Value = test::read_body_json(
        test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/dashboard/data.json")
                .to_request(),
        )
        .await,
    )
    .await;
    let keys: Vec<&str> = data["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"GET /api/products/{id}"), "{keys:?}");
    assert!(keys.contains(&"GET /metrics"), "{keys:?}");
    assert_eq!(data["cache"]["hit"], 1);
    assert_eq!(data["cache_hit_ratio_total"], 1.0);
}

#[actix_web::test]
async fn sane_request_ids_are_short_and_printable() {
    let ok = |s: &str| sane_request_id(&HeaderValue::from_str(s).unwrap()).is_some();
    assert!(ok("0af7651916cd43dd8448eb211c80319c"));
    assert!(ok("req:1/2+3=4_5.6-7"));
    assert!(!ok(""));
    assert!(!ok("a b"));
    assert!(!ok(&"a".repeat(129)));
}

#[actix_web::test]
async fn switched_off_the_middleware_passes_requests_through_unmeasured() {
    let metrics = Metrics::new();
    let app = test::init_service(
        App::new()
            .wrap(
                RequestMetrics::new(metrics.clone(), AccessLogSettings::default())
                    .with_enabled(false),
            )
            .route("/api/products/{id}", web::get().to(product)),
    )
    .await;
    let res = test::call_service(
        &app,
        test::TestRequest::get().uri("/api/products/7").to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("x-request-id").is_none());
    assert_eq!(test::read_body(res).await, "product 7");
    let text = metrics.render_prometheus();
    assert_eq!(
        line_value(
            &text,
            r#"brisk_http_requests_total{method="GET",route="/api/products/{id}",status="2xx"}"#
        ),
        None,
        "{text}"
    );
}
