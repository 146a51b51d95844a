//! The middleware in-process (`actix_web::test::init_service`) on a tiny App whose fake
//! auth middleware inserts an `AuthContext` (tenant from `X-Test-Tenant`), against the
//! real Redis: headers and 429 body exact, errors carry headers, exempt and unknown
//! routes untouched, login spoofing with 0 and 1 trusted hops.

use super::rate_limit;
use crate::caller::AuthContext;
use crate::caller::PlanName;
use crate::http::error::ApiError;

/// A plan of this test's own (the kit names none).
const PLAN_BASIC: PlanName = PlanName("basic");
use crate::ratelimit::tests::{limiter, unique_prefix, REDIS_URL};
use crate::ratelimit::{parse_limits, parse_route_rule, Limiter, RateLimitConfig};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{test, web, App, Error, HttpMessage, HttpResponse};
use std::time::{SystemTime, UNIX_EPOCH};

async fn fake_auth(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    // Like the kit's `Protection`, only the protected prefix carries a caller.
    let protected = req.path().starts_with("/api/");
    let tenant = req
        .headers()
        .get("x-test-tenant")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    if let Some(tenant_id) = tenant.filter(|_| protected) {
        req.extensions_mut().insert(AuthContext {
            tenant_id,
            plan: PLAN_BASIC,
            key_id: tenant_id * 10,
            user_id: None,
        });
    }
    next.call(req).await
}

fn test_limiter(prefix: &str, trusted_hops: u8) -> Limiter {
    let mut config =
        RateLimitConfig::default().with_plan(PLAN_BASIC, parse_limits("3 per minute").unwrap());
    config.routes = vec![parse_route_rule("POST /api/login = 5 per minute by ip").unwrap()];
    config.trusted_hops = trusted_hops;
    limiter(REDIS_URL, prefix, config).0
}

macro_rules! app {
    ($limiter:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::new($limiter))
                // Registration order: the last `wrap` runs first, so auth runs before the limiter.
                .wrap(from_fn(rate_limit))
                .wrap(from_fn(fake_auth))
                .route(
                    "/health",
                    web::get().to(|| async { HttpResponse::Ok().body("ok") }),
                )
                .route(
                    "/api/products",
                    web::get().to(|| async { HttpResponse::Ok().body("[]") }),
                )
                .route(
                    "/api/products/{id}",
                    web::get().to(|| async {
                        Err::<HttpResponse, _>(ApiError::not_found("no such product"))
                    }),
                )
                .route(
                    "/api/login",
                    web::post().to(|| async { HttpResponse::Ok().body("token") }),
                ),
        )
        .await
    };
}

fn header<'a>(res: &'a ServiceResponse<impl MessageBody>, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn get(path: &str, tenant: i64) -> test::TestRequest {
    test::TestRequest::get()
        .uri(path)
        .insert_header(("x-test-tenant", tenant.to_string()))
        .peer_addr("192.0.2.1:5000".parse().unwrap())
}

#[actix_web::test]
async fn limited_routes_carry_exact_headers_and_the_429_body_is_exact() {
    let app = app!(test_limiter(&unique_prefix(), 0));
    for expected_remaining in ["2", "1", "0"] {
        let before = epoch_secs();
        let res = test::call_service(&app, get("/api/products", 1).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "x-ratelimit-limit"), Some("3"));
        assert_eq!(
            header(&res, "x-ratelimit-remaining"),
            Some(expected_remaining)
        );
        let reset: u64 = header(&res, "x-ratelimit-reset").unwrap().parse().unwrap();
        // A period, plus up to a sub-window (1/64 of it) for the counter, rounded up.
        assert!(
            reset > before && reset <= before + 62,
            "reset {reset} vs now {before}"
        );
        assert_eq!(header(&res, "ratelimit-policy"), Some("\"plan\";q=3;w=60"));
        let rl = header(&res, "ratelimit").unwrap();
        assert!(
            rl.starts_with(&format!("\"plan\";r={expected_remaining};t=")),
            "{rl}"
        );
    }
    let res = test::call_service(&app, get("/api/products", 1).to_request()).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&res, "x-ratelimit-remaining"), Some("0"));
    let retry: u64 = header(&res, "retry-after").unwrap().parse().unwrap();
    assert!((59..=61).contains(&retry), "Retry-After {retry}");
    assert_eq!(header(&res, "content-type"), Some("application/json"));
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(
        body,
        serde_json::json!({
            "error": "rate_limited",
            "detail": format!("rate limit \"plan\" of 3 per minute exceeded; retry in {retry} s"),
            "retry_after": retry,
        })
    );
    // Another tenant has its own bucket.
    let res = test::call_service(&app, get("/api/products", 2).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "x-ratelimit-remaining"), Some("2"));
}

#[actix_web::test]
async fn error_responses_of_limited_routes_carry_the_headers_too() {
    let app = app!(test_limiter(&unique_prefix(), 0));
    let res = test::call_service(&app, get("/api/products/9", 1).to_request()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&res, "x-ratelimit-limit"), Some("3"));
    assert_eq!(header(&res, "x-ratelimit-remaining"), Some("2"));
}

#[actix_web::test]
async fn exempt_and_unknown_routes_are_not_limited_and_carry_no_headers() {
    let app = app!(test_limiter(&unique_prefix(), 0));
    for _ in 0..5 {
        let res = test::call_service(&app, get("/health", 1).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(header(&res, "x-ratelimit-limit").is_none());
        let res = test::call_service(&app, get("/api/nope", 1).to_request()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(header(&res, "x-ratelimit-limit").is_none());
    }
    // The 10 requests above charged nothing.
    let res = test::call_service(&app, get("/api/products", 1).to_request()).await;
    assert_eq!(header(&res, "x-ratelimit-remaining"), Some("2"));
}

fn login(xff: &str, peer: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri("/api/login")
        .insert_header(("x-forwarded-for", xff))
        .peer_addr(peer.parse().unwrap())
}

#[actix_web::test]
async fn with_zero_hops_a_new_forwarded_for_on_every_login_does_not_reset_the_count() {
    let app = app!(test_limiter(&unique_prefix(), 0));
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for i in 0..7 {
            let res = app
                .call(login(&format!("10.9.9.{i}"), "192.0.2.50:4000").to_request())
                .await
                .unwrap();
            v.push(res.status().as_u16());
        }
        v
    };
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
}

#[actix_web::test]
async fn with_one_hop_the_address_left_of_the_trusted_one_is_ignored() {
    let app = app!(test_limiter(&unique_prefix(), 1));
    // The proxy (peer 192.0.2.60) appended the real client 198.51.100.20; the left part
    // is whatever the client sent.
    let mut statuses = Vec::new();
    for i in 0..7 {
        let xff = format!("6.6.6.{i}, 198.51.100.20");
        statuses.push(
            app.call(login(&xff, "192.0.2.60:4000").to_request())
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
    // A different real client behind the same proxy has its own bucket.
    let res = app
        .call(login("198.51.100.21", "192.0.2.60:4000").to_request())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "x-ratelimit-remaining"), Some("4"));
    assert_eq!(header(&res, "ratelimit-policy"), Some("\"login\";q=5;w=60"));
}

async fn failing_inner(
    _req: ServiceRequest,
    _next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    Err::<ServiceResponse<actix_web::body::BoxBody>, _>(
        ApiError::Conflict {
            code: "conflict",
            detail: "inner middleware refused".into(),
        }
        .into(),
    )
}

#[actix_web::test]
async fn an_inner_middleware_error_stays_an_error_and_carries_the_headers() {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(test_limiter(&unique_prefix(), 0)))
            .wrap(from_fn(rate_limit))
            .wrap(from_fn(fake_auth))
            .service(
                web::resource("/api/guarded")
                    .wrap(from_fn(failing_inner))
                    .route(web::get().to(HttpResponse::Ok)),
            ),
    )
    .await;
    let err = app
        .call(get("/api/guarded", 1).to_request())
        .await
        .err()
        .expect("the inner error propagates");
    let res = err.error_response();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(
        res.headers()
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok()),
        Some("2")
    );
}
