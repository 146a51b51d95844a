//! Bad keys against real servers (API.md, "Hostile input"): one 401 body for every bad
//! key, deleted and expired keys stopping within 5 s on every process, failed
//! authentication limited per client address before any database work, and login
//! tokens that carry their user for `by user` limits.

use crate::helpers::*;
use brisk::config::ratelimit::Limits;
use brisk::config::ServeArgs;
use brisk::order_api;
use brisk_kit::ratelimit::{parse_limits, parse_route_rule};
use brisk_kit::startup::Application;
use brisk_kit::testing::Mode;
use diesel::sql_types::{BigInt, Text};
use diesel::RunQueryDsl;
use reqwest::header::HeaderValue;
use reqwest::{Method, Response};
use serde_json::json;
use std::time::{Duration, Instant};

/// A 2 s Redis timeout: no decision falls back to a failure policy on a loaded machine.
fn patient_redis(args: &mut ServeArgs) {
    args.redis.redis_timeout_ms = 2_000;
}

fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A random key nobody holds.
fn random_key() -> String {
    format!("guess-{}", uuid::Uuid::new_v4().simple())
}

/// Inserts an API key for `tenant` by SQL; returns its row id.
fn insert_key(app: &TestApp, tenant: i64, raw: &str, expires: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let row: Id = diesel::sql_query(format!(
        "INSERT INTO api_keys (tenant_id, key_hash, label, expires_at)
         VALUES ($1, $2, 'test', {expires}) RETURNING id"
    ))
    .bind::<BigInt, _>(tenant)
    .bind::<Text, _>(brisk::app::sessions::hash_key(raw))
    .get_result(&mut app.db())
    .unwrap();
    row.id
}

/// A request with `key` from `client` (the server trusts one proxy hop).
async fn from(app: &TestApp, client: &str, path: &str, key: Option<&str>) -> Response {
    let mut req = app
        .client
        .get(app.url(path))
        .header("X-Forwarded-For", client);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.expect("request failed")
}

async fn login_from(app: &TestApp, client: &str, email: &str, password: &str) -> Response {
    app.client
        .post(app.url("/api/login"))
        .header("X-Forwarded-For", client)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("request failed")
}

#[actix_web::test]
async fn every_missing_unknown_malformed_expired_or_deleted_key_gets_the_same_401_body() {
    let app = spawn_app_with(patient_redis).await;
    let expired = random_key();
    insert_key(&app, 2, &expired, "now() - interval '1 second'");
    let deleted = random_key();
    let id = insert_key(&app, 2, &deleted, "NULL");
    let ok = app.get("/api/catalog", Some(&deleted)).await;
    assert_eq!(ok.status(), 200, "the key works before it is deleted");
    diesel::sql_query("DELETE FROM api_keys WHERE id = $1")
        .bind::<BigInt, _>(id)
        .execute(&mut app.db())
        .unwrap();
    let mut answers = Vec::new();
    let value = |k: &str| HeaderValue::from_str(k).unwrap();
    let cases: [(&str, Option<HeaderValue>); 7] = [
        ("missing", None),
        ("unknown", Some(value("demo-key-99"))),
        ("malformed", Some(value(&"k".repeat(600)))),
        ("malformed", Some(value("bad key with spaces"))),
        (
            "malformed",
            Some(HeaderValue::from_bytes(b"\xffnot-utf8").unwrap()),
        ),
        ("expired", Some(value(&expired))),
        ("deleted", Some(value(&deleted))),
    ];
    for (what, key) in cases {
        let mut req = app.client.get(app.url("/api/catalog"));
        if let Some(k) = key {
            req = req.header("X-API-Key", k);
        }
        // A deleted key stops within 5 s (below): wait for it here.
        let deadline = Instant::now() + Duration::from_secs(6);
        let resp = loop {
            let resp = req.try_clone().unwrap().send().await.unwrap();
            if resp.status() != 200 || Instant::now() > deadline {
                break resp;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let status = resp.status().as_u16();
        let www = header(&resp, "www-authenticate");
        let body = resp.bytes().await.unwrap();
        answers.push((what, status, www, body));
    }
    let (_, _, www, body) = &answers[0];
    for (what, status, w, b) in &answers {
        assert_eq!(*status, 401, "{what}");
        assert_eq!(w, www, "{what}: WWW-Authenticate");
        assert_eq!(b, body, "{what}: the body byte for byte");
    }
}

/// Polls `app` with `key` until 401; how long it took (`None`: still accepted).
async fn time_to_401(apps: &[&TestApp], key: &str, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut stopped = vec![false; apps.len()];
    while start.elapsed() < within {
        for (i, app) in apps.iter().enumerate() {
            let status = app.get("/api/catalog", Some(key)).await.status().as_u16();
            match status {
                401 => stopped[i] = true,
                200 => assert!(!stopped[i], "a stopped key authenticated again"),
                other => panic!("unexpected {other}"),
            }
        }
        if stopped.iter().all(|s| *s) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[actix_web::test]
async fn a_key_deleted_or_expired_by_sql_stops_on_every_process_within_five_seconds() {
    let db = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    let prefix = brisk_kit::testing::unique_prefix();
    let configure = |args: &mut ServeArgs| {
        patient_redis(args);
        args.redis.redis_prefix = prefix.clone();
    };
    let a = spawn_app_on(&db, configure).await;
    let b = spawn_app_on(&db, configure).await;
    for (revoke, what) in [
        ("DELETE FROM api_keys WHERE id = $1", "deleted"),
        (
            "UPDATE api_keys SET expires_at = now() WHERE id = $1",
            "expired",
        ),
    ] {
        let raw = random_key();
        let id = insert_key(&a, 3, &raw, "now() + interval '1 day'");
        // Both processes (and the shared memo) remember the key as valid.
        for _ in 0..5 {
            for app in [&a, &b] {
                assert_eq!(app.get("/api/catalog", Some(&raw)).await.status(), 200);
            }
        }
        diesel::sql_query(revoke)
            .bind::<BigInt, _>(id)
            .execute(&mut a.db())
            .unwrap();
        let took = time_to_401(&[&a, &b], &raw, Duration::from_secs(5)).await;
        assert!(took.is_some(), "a {what} key still authenticates after 5 s");
        // And it stays stopped once every memo has run out.
        assert_eq!(
            time_to_401(&[&a, &b], &raw, Duration::from_secs(1))
                .await
                .map(|_| ()),
            Some(())
        );
    }
}

/// A server whose database connections go through a proxy the test can hang.
async fn spawn_behind_db_proxy(
    db: &str,
    configure: impl FnOnce(&mut ServeArgs),
) -> (TestApp, RedisProxy) {
    let proxy = RedisProxy::start_to("127.0.0.1:6432".parse().unwrap()).await;
    let port = proxy.port;
    let app = spawn_app_on(db, move |args| {
        patient_redis(args);
        args.database.database_url = format!("postgres://root@127.0.0.1:{port}/{db}");
        configure(args);
    })
    .await;
    (app, proxy)
}

/// `resp` came back quickly (no database call hung) with `status`.
async fn quick(what: &str, status: u16, call: impl std::future::Future<Output = Response>) {
    let start = Instant::now();
    let resp = call.await;
    assert_eq!(resp.status().as_u16(), status, "{what}");
    assert!(
        start.elapsed() < Duration::from_millis(1_500),
        "{what}: {:?}, so it waited on the database",
        start.elapsed()
    );
}

/// The refusal a guess from `client` gets once it is over its failure limit.
async fn refused_again(app: &TestApp, client: &str) -> Response {
    let resp = from(app, client, "/api/catalog", Some(&random_key())).await;
    assert_eq!(resp.status(), 429);
    resp
}

#[actix_web::test]
async fn failed_authentications_are_limited_per_address_before_any_database_work() {
    let db = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    let (app, proxy) = spawn_behind_db_proxy(&db, |args| {
        args.server.trusted_hops = 1;
        // A route without limits: a remembered key is checked there on its own.
        args.ratelimit.rate_limit_exempt = vec!["GET /api/products".into()];
    })
    .await;
    let guesser = "203.0.113.50";
    // A valid key this process has verified (its memo serves it without the database).
    let k3 = key(3);
    let known = from(&app, "203.0.113.52", "/api/catalog", Some(&k3)).await;
    assert_eq!(known.status(), 200);
    // The default limit: 30 failures per minute from one address.
    for i in 0..30 {
        let resp = from(&app, guesser, "/api/catalog", Some(&random_key())).await;
        assert_eq!(resp.status(), 401, "guess {i}");
    }
    // From now on any database call hangs: the refusals below make none.
    proxy.set(Mode::Blackhole);
    let refused = from(&app, guesser, "/api/catalog", Some(&random_key())).await;
    assert_eq!(refused.status(), 429);
    assert!(header(&refused, "retry-after").is_some());
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    // Every key-bearing request from that address, a valid key included, and logins.
    let k2 = key(2);
    let guess = random_key();
    quick(
        "a guess",
        429,
        from(&app, guesser, "/api/catalog", Some(&guess)),
    )
    .await;
    quick(
        "a valid key",
        429,
        from(&app, guesser, "/api/catalog", Some(&k2)),
    )
    .await;
    // A remembered valid key gets the very same refusal, on a limited route (checked in
    // the limiter's one Redis call) and on a route without limits.
    for path in ["/api/catalog", "/api/products"] {
        let resp = from(&app, guesser, path, Some(&k3)).await;
        assert_eq!(resp.status(), 429, "a remembered key on {path}");
        assert!(header(&resp, "ratelimit-policy").is_some(), "{path}");
        assert_eq!(
            header(&resp, "ratelimit-policy"),
            header(&refused_again(&app, guesser).await, "ratelimit-policy"),
            "{path}: the failure limit's refusal, as for a guess"
        );
    }
    let login = login_from(&app, guesser, "admin@tenant2.example", "password");
    quick("a login", 429, login).await;
    // A request with no key costs no look-up and is not counted: still 401.
    quick("no key", 401, from(&app, guesser, "/api/catalog", None)).await;
    // Other addresses are unaffected.
    proxy.set(Mode::Forward);
    let other = from(&app, "203.0.113.51", "/api/catalog", Some(&k2)).await;
    assert_eq!(other.status(), 200);
    let bad = from(&app, "203.0.113.51", "/api/catalog", Some(&random_key())).await;
    assert_eq!(bad.status(), 401);
}

#[actix_web::test]
async fn concurrent_guesses_cannot_slip_past_and_valid_keys_are_never_counted() {
    let app = spawn_app_with(|args| {
        patient_redis(args);
        args.server.trusted_hops = 1;
    })
    .await;
    // Valid keys from a busy address never use its failure budget up.
    let busy = "198.51.100.60";
    let k4 = key(4);
    let valid: Vec<_> = (0..60)
        .map(|_| from(&app, busy, "/api/products?per_page=1", Some(&k4)))
        .collect();
    for resp in futures_util::future::join_all(valid).await {
        assert_eq!(resp.status(), 200);
    }
    let guesser = "198.51.100.61";
    let guesses: Vec<String> = (0..60).map(|_| random_key()).collect();
    let tries = guesses
        .iter()
        .map(|k| from(&app, guesser, "/api/catalog", Some(k)));
    let statuses: Vec<u16> = futures_util::future::join_all(tries)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((unauthorized, limited), (30, 30), "{statuses:?}");
}

#[actix_web::test]
async fn failed_logins_count_against_the_address() {
    let app = spawn_app_with(|args| {
        patient_redis(args);
        args.server.trusted_hops = 1;
        args.ratelimit.rate_limit_auth_failures = Limits(parse_limits("3 per minute").unwrap());
    })
    .await;
    let client = "192.0.2.70";
    for _ in 0..3 {
        let resp = login_from(&app, client, "admin@tenant1.example", "wrong").await;
        assert_eq!(resp.status(), 401);
    }
    let resp = login_from(&app, client, "admin@tenant1.example", "password").await;
    assert_eq!(
        resp.status(),
        429,
        "even the right password, past the limit"
    );
    let resp = from(&app, client, "/api/catalog", Some(&key(1))).await;
    assert_eq!(resp.status(), 429);
    // A successful login is not a failure.
    let other = "192.0.2.71";
    for _ in 0..4 {
        let resp = login_from(&app, other, "admin@tenant1.example", "password").await;
        assert_eq!(resp.status(), 200);
    }
}

#[actix_web::test]
async fn an_unknown_key_is_remembered_across_processes() {
    let db = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    let prefix = brisk_kit::testing::unique_prefix();
    let configure = |args: &mut ServeArgs| {
        patient_redis(args);
        args.redis.redis_prefix = prefix.clone();
    };
    let a = spawn_app_on(&db, configure).await;
    let (b, b_db) = spawn_behind_db_proxy(&db, configure).await;
    let guess = random_key();
    assert_eq!(a.get("/api/catalog", Some(&guess)).await.status(), 401);
    // The second process cannot reach the database: it knows the key from Redis.
    b_db.set(Mode::Blackhole);
    quick(
        "the same unknown key",
        401,
        b.get("/api/catalog", Some(&guess)),
    )
    .await;
}

#[derive(diesel::QueryableByName)]
struct UserOfKey {
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    user_id: Option<i64>,
}

async fn login(app: &TestApp, tenant: i64) -> String {
    let resp = app
        .request(
            Method::POST,
            "/api/login",
            None,
            Some(
                &json!({"email": format!("admin@tenant{tenant}.example"), "password": "password"}),
            ),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn a_by_user_limit_keys_on_the_login_tokens_user_or_else_on_the_api_key() {
    let app = spawn_app_with(|args| {
        patient_redis(args);
        args.ratelimit.rate_limit_routes =
            vec![parse_route_rule("GET /api/catalog = 2 per minute by user").unwrap()];
    })
    .await;
    let first = login(&app, 2).await;
    let row: UserOfKey = diesel::sql_query("SELECT user_id FROM api_keys WHERE key_hash = $1")
        .bind::<Text, _>(brisk::app::sessions::hash_key(&first))
        .get_result(&mut app.db())
        .unwrap();
    assert!(row.user_id.is_some(), "a login token names its user");
    let statuses =
        |resp: Vec<Response>| resp.iter().map(|r| r.status().as_u16()).collect::<Vec<_>>();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(app.get("/api/catalog", Some(&first)).await);
    }
    assert_eq!(statuses(got), [200, 200, 429]);
    // Another token of the same user shares the user's bucket.
    let second = login(&app, 2).await;
    assert_eq!(app.get("/api/catalog", Some(&second)).await.status(), 429);
    // A plain API key of the same tenant names no user: its own bucket, by key.
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(app.get("/api/catalog", Some(&key(2))).await);
    }
    assert_eq!(statuses(got), [200, 200, 429]);
}

#[actix_web::test]
async fn a_route_limit_that_can_never_apply_is_refused_at_start_up_with_one_line() {
    let db = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    for rule in [
        "POST /api/login = 1 per minute by tenant",
        "POST /api/login = 1 per minute by user",
        "GET /health = 1 per minute by tenant",
    ] {
        let mut args = test_args(&db);
        args.ratelimit.rate_limit_routes = vec![parse_route_rule(rule).unwrap()];
        let key = args.order_api_config();
        let built = Application::build(args.kit_config(), move |s| order_api::mount(s, key)).await;
        let err = match built {
            Ok(_) => panic!("{rule:?} was accepted"),
            Err(e) => e,
        };
        assert!(err.contains("never applies"), "{rule}: {err}");
        assert!(err.contains(&format!("\"{rule}\"")), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}
