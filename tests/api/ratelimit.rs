//! Rate limits through real servers: two servers sharing Redis admit exactly the limit,
//! login spoofing with 0 and 1 trusted hops, export once per day, plan headers.

use crate::helpers::*;
use brisk::config::ratelimit::Limits;
use brisk::config::ServeArgs;
use brisk_kit::ratelimit::parse_limits;
use reqwest::{Method, Response};
use serde_json::{json, Value};

/// Limits decided by Redis even on a loaded test machine: a 2 s Redis timeout instead of
/// 100 ms, so no decision falls back to the failure policy (tested in `ratelimit::tests`).
fn patient_redis(args: &mut ServeArgs) {
    args.redis.redis_timeout_ms = 2_000;
}

fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[actix_web::test]
async fn two_servers_sharing_redis_admit_exactly_the_limit_across_both() {
    let db = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    let prefix = brisk_kit::testing::unique_prefix();
    let configure = |args: &mut ServeArgs| {
        patient_redis(args);
        args.redis.redis_prefix = prefix.clone();
        args.ratelimit.rate_limit_free = Limits(parse_limits("10 per minute").unwrap());
    };
    let a = spawn_app_on(&db, configure).await;
    let b = spawn_app_on(&db, configure).await;
    let k1 = key(1);
    let mut requests = Vec::new();
    for i in 0..30 {
        let app = if i % 2 == 0 { &a } else { &b };
        requests.push(app.get("/api/products?per_page=1", Some(&k1)));
    }
    let statuses: Vec<u16> = futures_util::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((ok, limited), (10, 20), "{statuses:?}");
}

async fn bad_login(app: &TestApp, forwarded_for: &str) -> Response {
    app.client
        .post(app.url("/api/login"))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"email": "nobody@example.com", "password": "wrong"}))
        .send()
        .await
        .expect("request failed")
}

#[actix_web::test]
async fn with_zero_hops_a_new_forwarded_for_on_every_login_does_not_reset_the_count() {
    let app = spawn_app_with(patient_redis).await;
    let mut statuses = Vec::new();
    for i in 0..7 {
        statuses.push(
            bad_login(&app, &format!("10.1.2.{i}"))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
}

#[actix_web::test]
async fn with_one_hop_the_address_left_of_the_trusted_one_is_ignored() {
    let app = spawn_app_with(|args| {
        patient_redis(args);
        args.server.trusted_hops = 1;
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..7 {
        let xff = format!("6.6.6.{i}, 198.51.100.20");
        statuses.push(bad_login(&app, &xff).await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    let other = bad_login(&app, "198.51.100.21").await;
    assert_eq!(
        other.status(),
        401,
        "another client behind the proxy has its own bucket"
    );
    assert_eq!(
        header(&other, "x-ratelimit-remaining").as_deref(),
        Some("4")
    );
}

#[actix_web::test]
async fn export_is_allowed_once_per_day_per_tenant() {
    let app = spawn_app_with(patient_redis).await;
    let first = app.get("/api/export.csv", Some(&key(3))).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-ratelimit-limit").as_deref(), Some("1"));
    assert_eq!(
        header(&first, "x-ratelimit-remaining").as_deref(),
        Some("0")
    );
    assert_eq!(
        header(&first, "ratelimit-policy").as_deref(),
        Some("\"plan\";q=600;w=60, \"export.csv\";q=1;w=86400")
    );
    let _ = first.bytes().await.unwrap();
    let second = app.get("/api/export.csv", Some(&key(3))).await;
    assert_eq!(second.status(), 429);
    let retry: u64 = header(&second, "retry-after").unwrap().parse().unwrap();
    // A day, plus up to a sub-window (1/64 of it, 1,350 s) for the default counter.
    assert!((86_300..=87_750).contains(&retry), "Retry-After {retry}");
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(body["retry_after"], retry);
    // Another tenant's export is its own.
    assert_eq!(
        app.get("/api/export.csv", Some(&key(4))).await.status(),
        200
    );
    // The refused export was charged to neither limit: tenant 3's plan bucket shows
    // only the first export.
    let resp = app.get("/api/products?per_page=1", Some(&key(3))).await;
    assert_eq!(
        header(&resp, "x-ratelimit-remaining").as_deref(),
        Some("598")
    );
}

#[actix_web::test]
async fn every_api_response_carries_the_plan_limit_headers_and_exempt_routes_none() {
    let app = spawn_app_with(patient_redis).await;
    for (tenant, limit) in [(1, 60), (2, 600), (4, 6000)] {
        let resp = app
            .get("/api/products?per_page=1", Some(&key(tenant)))
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-ratelimit-limit"), Some(limit.to_string()));
        assert_eq!(
            header(&resp, "x-ratelimit-remaining"),
            Some((limit - 1).to_string())
        );
        assert_eq!(
            header(&resp, "ratelimit-policy"),
            Some(format!("\"plan\";q={limit};w=60"))
        );
        let reset: u64 = header(&resp, "x-ratelimit-reset").unwrap().parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // A minute, plus up to a sub-window (1/64 of it) for the default counter.
        assert!(reset > now && reset <= now + 62, "reset {reset}, now {now}");
    }
    // Errors of a limited route carry them too.
    let resp = app.get("/api/products/999999999", Some(&key(1))).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        header(&resp, "x-ratelimit-remaining").as_deref(),
        Some("58")
    );
    for path in ["/health", "/ready", "/metrics", "/api/nope"] {
        let resp = app.request(Method::GET, path, Some(&key(1)), None).await;
        assert!(header(&resp, "x-ratelimit-limit").is_none(), "{path}");
    }
}

#[actix_web::test]
async fn a_redis_cut_applies_each_routes_failure_policy_and_never_a_5xx() {
    use brisk_kit::metrics::events::LimiterEvent;
    let proxy = RedisProxy::start().await;
    let app = spawn_app_with(|args| {
        args.redis.redis_url = format!("redis://127.0.0.1:{}", proxy.port);
        // A cut closes connections (errors at once); the generous timeout only keeps a
        // loaded machine from failing the decisions made while Redis is reachable.
        args.redis.redis_timeout_ms = 1_000;
        args.ratelimit.rate_limit_on_failure = brisk_kit::ratelimit::FailurePolicy::Deny;
        args.ratelimit.rate_limit_breaker_ms = 200;
    })
    .await;
    let k4 = key(4);
    assert_eq!(
        app.get("/api/products?per_page=1", Some(&k4))
            .await
            .status(),
        200
    );

    proxy.set_cut(true);
    // deny (the plan limit's class here): 429 with Retry-After, never a 5xx.
    for _ in 0..3 {
        let resp = app.get("/api/products?per_page=1", Some(&k4)).await;
        assert_eq!(resp.status(), 429);
        assert!(header(&resp, "retry-after").is_some());
    }
    // local (login's default): this process keeps limiting, 5 per minute per client.
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(bad_login(&app, "ignored").await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    assert_eq!(app.get("/health", None).await.status(), 200, "exempt");
    let without = app
        .state
        .metrics
        .limiter_count(LimiterEvent::DecidedWithoutStore);
    // One per decision: the 3 plan-limit denials are one each (the key is remembered, so
    // its failed-authentication guard rides the same limiter call), the 7 logins two each
    // (the failed-authentication reservation before the look-up, then the login limit).
    assert_eq!(
        without,
        3 + 7 * 2,
        "every decision taken without Redis is counted once"
    );
    assert!(app.state.metrics.limiter_count(LimiterEvent::StoreError) >= 1);

    proxy.set_cut(false);
    let back = wait_until(std::time::Duration::from_secs(10), || async {
        app.get("/api/products?per_page=1", Some(&k4))
            .await
            .status()
            == 200
    })
    .await;
    assert!(back, "Redis used again after it came back");
}
