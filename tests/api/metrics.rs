//! Measurement end to end: known traffic against a real server shows up in `/metrics`
//! under route patterns (never raw paths), with statement counts and pool gauges;
//! responses carry `X-Request-Id` and `Server-Timing`; and the live page, loaded in
//! Debian's chromium (headless), draws charts from that traffic. The screenshot is saved
//! under `target/test-artifacts/`. `make test` installs chromium first
//! (`scripts/ensure-chromium.sh`); `BRISK_CHROMIUM` may point at another binary.

use crate::helpers::{key, product_ids, spawn_app, statements, wait_until, TestApp};
use brisk_testkit::browser::attr_of;
use brisk_testkit::prometheus::sample;
use std::path::PathBuf;
use std::time::Duration;

async fn scrape(app: &TestApp) -> String {
    let resp = app.get("/metrics", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    resp.text().await.unwrap()
}

/// Waits until `series` reaches `at_least` (a request is recorded when its body ends,
/// which can trail the client's read by a moment); returns the final scrape.
async fn scrape_until(app: &TestApp, series: &str, at_least: f64) -> String {
    let reached = wait_until(Duration::from_secs(5), || async {
        sample(&scrape(app).await, series).unwrap_or(0.0) >= at_least
    })
    .await;
    let text = scrape(app).await;
    assert!(reached, "{series} never reached {at_least}:\n{text}");
    text
}

/// Known traffic: 3 product reads and one 404 under `/api/products/{id}`, an orders
/// page, an unknown path and a refused catalog; the product ids read.
async fn send_known_traffic(app: &TestApp) -> Vec<i64> {
    let ids = product_ids(&mut app.db(), 1);
    for id in &ids[..3] {
        let (status, _) = app.get_json(&format!("/api/products/{id}"), 1).await;
        assert_eq!(status, 200);
    }
    let (status, _) = app.get_json("/api/products/999999999", 1).await;
    assert_eq!(status, 404);
    let (status, _) = app.get_json("/api/orders?per_page=5", 1).await;
    assert_eq!(status, 200);
    assert_eq!(app.get("/no/such/route/42", None).await.status(), 404);
    assert_eq!(app.get("/api/catalog", None).await.status(), 401);
    ids[..3].to_vec()
}

/// Requests are counted under their route pattern (never a raw path), unknown paths
/// under `unmatched`, a refused request under its route.
fn assert_counted_by_route_pattern(text: &str, ids: &[i64]) {
    let product = r#"{method="GET",route="/api/products/{id}""#;
    assert_eq!(
        sample(
            text,
            &format!(r#"brisk_http_requests_total{product},status="2xx"}}"#)
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            text,
            &format!("brisk_http_request_duration_seconds_count{product}}}")
        ),
        Some(4.0)
    );
    for id in ids {
        assert!(
            !text.contains(&format!("/api/products/{id}\"")),
            "raw path {id} in labels"
        );
    }
    assert!(
        !text.contains("/no/such/route"),
        "raw unknown path in labels"
    );
    assert_eq!(
        sample(
            text,
            r#"brisk_http_requests_total{method="GET",route="unmatched",status="4xx"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            text,
            r#"brisk_http_requests_total{method="GET",route="/api/catalog",status="4xx"}"#
        ),
        Some(1.0),
        "a request refused by authentication is labelled by its route"
    );
}

/// Statements per request: the orders page ran 1..=3 statements (API.md's bound),
/// charged to its route by the counter the middleware put in the extensions.
fn assert_statements_charged_to_their_route(text: &str) {
    let orders = r#"{method="GET",route="/api/orders"}"#;
    assert_eq!(
        sample(
            text,
            &format!("brisk_http_request_statements_count{orders}")
        ),
        Some(1.0)
    );
    let n = sample(text, &format!("brisk_http_request_statements_sum{orders}")).unwrap();
    assert!((1.0..=3.0).contains(&n), "orders page statements: {n}");
    assert!(
        sample(
            text,
            &format!("brisk_http_request_db_seconds_total{orders}")
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(
        sample(
            text,
            r#"brisk_http_request_statements_sum{method="GET",route="/health"}"#
        ),
        None,
        "no /health traffic yet"
    );
}

/// Limiter outcomes (the five authenticated /api requests passed the limiter), the
/// database pool's gauges (size 4 in tests), and the scrape itself in flight.
fn assert_limiter_pool_and_in_flight(text: &str) {
    assert!(
        sample(
            text,
            r#"brisk_ratelimit_decisions_total{outcome="allowed"}"#
        )
        .unwrap()
            >= 5.0,
        "{text}"
    );
    assert_eq!(
        sample(
            text,
            r#"brisk_ratelimit_decisions_total{outcome="rejected"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(text, r#"brisk_pool_max_connections{pool="db"}"#),
        Some(4.0)
    );
    assert!(sample(text, r#"brisk_pool_connections{pool="db"}"#).unwrap() >= 1.0);
    assert_eq!(
        sample(text, r#"brisk_pool_acquire_timeouts_total{pool="db"}"#),
        Some(0.0)
    );
    // The scrape itself is in flight while it renders.
    assert_eq!(sample(text, "brisk_http_requests_in_flight"), Some(1.0));
    // Every authenticated request ran the limiter's script on Redis, timed.
    let scripts = r#"brisk_redis_command_duration_seconds_count{command="evalsha"}"#;
    assert!(sample(text, scripts).is_some_and(|n| n >= 1.0), "{scripts}");
    let scripts_in_a_second =
        r#"brisk_redis_command_duration_seconds_bucket{command="evalsha",le="0.25"}"#;
    assert!(sample(text, scripts_in_a_second).is_some_and(|n| n >= 1.0));
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(sample(text, name).is_some_and(|v| v > 0.0), "{name}");
    }
}

#[actix_web::test]
async fn known_traffic_is_counted_in_metrics_by_route_pattern() {
    let app = spawn_app().await;
    let ids = send_known_traffic(&app).await;
    let text = scrape_until(
        &app,
        r#"brisk_http_requests_total{method="GET",route="/api/products/{id}",status="4xx"}"#,
        1.0,
    )
    .await;
    assert_counted_by_route_pattern(&text, &ids);
    assert_statements_charged_to_their_route(&text);
    assert_limiter_pool_and_in_flight(&text);
}

#[actix_web::test]
async fn responses_carry_a_request_id_and_server_timing() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/api/orders?per_page=3"))
        .bearer_auth(key(1))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "trace-abc-123");
    let n = statements(&resp);
    assert!((1..=3).contains(&n), "statements in Server-Timing: {n}");
    let timing = resp.headers()["server-timing"].to_str().unwrap();
    assert!(timing.contains(", total;dur="), "{timing}");

    let a = app.get("/health", None).await;
    let b = app.get("/health", None).await;
    let (a, b) = (&a.headers()["x-request-id"], &b.headers()["x-request-id"]);
    assert_ne!(a, b, "generated ids differ");
    assert_eq!(statements(&app.get("/health", None).await), 0);
}

pub fn artifacts_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}

/// Headless chromium (testkit's, shared with the cluster suite's live-page test).
pub use brisk_testkit::browser::run_chromium;

#[actix_web::test]
async fn the_live_page_draws_charts_from_real_traffic_in_a_headless_browser() {
    let app = spawn_app().await;
    let ids = product_ids(&mut app.db(), 2);
    for id in ids.iter().cycle().take(40) {
        let (status, _) = app.get_json(&format!("/api/products/{id}"), 2).await;
        assert_eq!(status, 200);
    }
    for page in 1..=5 {
        let (status, _) = app
            .get_json(&format!("/api/orders?page={page}&per_page=20"), 2)
            .await;
        assert_eq!(status, 200);
    }
    for _ in 0..20 {
        assert_eq!(app.get("/health", None).await.status(), 200);
    }
    // Everything above is recorded before the page asks for its data.
    scrape_until(
        &app,
        r#"brisk_http_requests_total{method="GET",route="/health",status="2xx"}"#,
        20.0,
    )
    .await;

    let dom = run_chromium(&["--dump-dom".into(), app.url("/dashboard")]).await;
    std::fs::write(artifacts_dir().join("dashboard.html"), &dom).unwrap();
    assert_eq!(
        attr_of(&dom, "id=\"status\"", "data-state").as_deref(),
        Some("ok"),
        "the page loaded /dashboard/data.json"
    );
    for chart in ["chart-rps", "chart-p99", "chart-pools"] {
        let points: u64 = attr_of(&dom, &format!("id=\"{chart}\""), "data-points")
            .unwrap_or_else(|| panic!("{chart} was never drawn"))
            .parse()
            .unwrap();
        assert!(points > 0, "{chart} has data points");
    }
    assert_eq!(
        attr_of(&dom, "id=\"chart-p99\"", "data-scale").as_deref(),
        Some("log"),
        "latency on a log axis"
    );
    assert_eq!(
        attr_of(&dom, "id=\"chart-rps\"", "data-scale").as_deref(),
        Some("linear")
    );
    for route in ["/api/products/{id}", "/api/orders", "/health"] {
        assert!(
            dom.contains(&format!("data-route=\"{route}\"")),
            "the route table lists {route}"
        );
        assert_eq!(
            attr_of(&dom, &format!("data-route=\"GET {route}\""), "class").as_deref(),
            Some("route-chart"),
            "a p50/p95/p99 chart for {route}"
        );
    }
    assert!(
        !dom.contains(&format!("/api/products/{}<", ids[0])),
        "no raw path on the page"
    );

    let shot = artifacts_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(&[
        format!("--screenshot={}", shot.display()),
        app.url("/dashboard"),
    ])
    .await;
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "screenshot written ({size} bytes)");
}

/// `promtool`: `BRISK_PROMTOOL`, else the one on PATH (`make test` installs Debian's,
/// `scripts/ensure-promtool.sh`).
fn promtool() -> String {
    std::env::var("BRISK_PROMTOOL").unwrap_or_else(|_| "promtool".into())
}

/// A fresh server's exposition once [`send_known_traffic`]'s last request is counted.
async fn scrape_after_known_traffic() -> String {
    let app = spawn_app().await;
    send_known_traffic(&app).await;
    scrape_until(
        &app,
        r#"brisk_http_requests_total{method="GET",route="/api/products/{id}",status="4xx"}"#,
        1.0,
    )
    .await
}

#[actix_web::test]
async fn the_exposition_after_real_traffic_passes_promtool_check_metrics_with_no_findings() {
    let text = scrape_after_known_traffic().await;
    assert!(text.contains("brisk_redis_command_duration_seconds_bucket"));
    let mut check = std::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}): run scripts/ensure-promtool.sh (make test does)")
        });
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool failed:\n{findings}");
    assert!(findings.trim().is_empty(), "promtool findings:\n{findings}");
}

#[actix_web::test]
async fn a_routes_costs_show_its_redis_time_response_sizes_and_bytes_saved_by_compression() {
    let app = spawn_app().await;
    // The catalog (about 1.5 KB of JSON here) asked for gzip goes out compressed (a
    // client that does not decompress, so the header is seen as sent).
    let raw = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap();
    for _ in 0..3 {
        let resp = raw
            .get(app.url("/api/catalog"))
            .bearer_auth(key(2))
            .header("Accept-Encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-encoding"], "gzip");
    }
    let catalog = r#"{method="GET",route="/api/catalog"}"#;
    let text = scrape_until(
        &app,
        &format!("brisk_http_response_size_bytes_count{catalog}"),
        3.0,
    )
    .await;
    let labels = r#"method="GET",route="/api/catalog""#;
    let before = sample(
        &text,
        &format!("brisk_http_response_compression_bytes_total{{{labels},stage=\"before\"}}"),
    )
    .unwrap();
    let after = sample(
        &text,
        &format!("brisk_http_response_compression_bytes_total{{{labels},stage=\"after\"}}"),
    )
    .unwrap();
    assert!(after > 0.0 && before > 2.0 * after, "{before} → {after}");
    let sent = sample(
        &text,
        &format!("brisk_http_response_size_bytes_sum{catalog}"),
    );
    assert_eq!(sent, Some(after), "every catalog response had a known size");
    let redis = sample(
        &text,
        &format!("brisk_http_request_redis_seconds_total{catalog}"),
    );
    assert!(
        redis.is_some_and(|s| s > 0.0),
        "the limiter and the cache ran on Redis: {redis:?}"
    );
}

/// The metric names a dashboard file queries (`brisk_…`, `process_…`).
fn queried_names(dashboard: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for start in ["brisk_", "process_"] {
        for (at, _) in dashboard.match_indices(start) {
            let name: String = dashboard[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    names
}

#[actix_web::test]
async fn every_metric_the_grafana_dashboard_queries_is_served_and_the_scrape_config_is_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard = std::fs::read_to_string(root.join("deploy/grafana/brisk.json")).unwrap();
    let names = queried_names(&dashboard);
    assert!(names.len() >= 10, "{names:?}");
    let text = scrape_after_known_traffic().await;
    let served: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !served.contains(n.as_str()))
        .collect();
    assert!(missing.is_empty(), "queried but not served: {missing:?}");
    let check = std::process::Command::new(promtool())
        .args(["check", "config"])
        .arg(root.join("deploy/prometheus/prometheus.yml"))
        .output()
        .expect("run promtool (make test installs it)");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}
