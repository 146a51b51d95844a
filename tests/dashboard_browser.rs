//! The live page in a real browser (Debian's chromium, headless), against a real server on
//! port 0 running the metrics middleware and endpoints over a few stand-in routes: after
//! known traffic, the page's charts and table must hold data. The screenshot is saved
//! under `target/test-artifacts/`. `make test` installs chromium first
//! (`scripts/ensure-chromium.sh`); `BRISK_CHROMIUM` may point at another binary.

use actix_web::{web, App, HttpResponse, HttpServer};
use brisk::metrics::{self, AccessLogSettings, CacheEvent, Metrics, RequestMetrics};
use std::path::PathBuf;
use std::time::{Duration, Instant};

async fn product(path: web::Path<u64>) -> HttpResponse {
    let mut res = HttpResponse::Ok().json(serde_json::json!({ "id": path.into_inner() }));
    res.extensions_mut().insert(CacheEvent::Hit);
    res
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Starts the stand-in server; returns its base URL.
fn start_server(metrics: Metrics) -> String {
    let m = metrics.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(RequestMetrics::new(m.clone(), AccessLogSettings::default()))
            .configure(metrics::endpoints(m.clone()))
            .route("/health", web::get().to(health))
            .route("/api/products/{id}", web::get().to(product))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind port 0");
    let port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());
    format!("http://127.0.0.1:{port}")
}

fn chromium() -> String {
    std::env::var("BRISK_CHROMIUM").unwrap_or_else(|_| "chromium".to_string())
}

fn artifacts_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}

/// Runs headless chromium with the flags that keep it offline and quiet, a fresh
/// profile, and `extra` (the action); returns stdout.
async fn run_chromium(extra: &[String]) -> String {
    let profile = std::env::temp_dir().join(format!("brisk-chromium-{}", uuid::Uuid::new_v4()));
    let mut cmd = tokio::process::Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1400,1700",
        "--virtual-time-budget=8000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium finished within 120 s")
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); run scripts/ensure-chromium.sh or set BRISK_CHROMIUM",
                chromium()
            )
        });
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of `attr` in the first start tag that contains `marker`.
fn attr_of(dom: &str, marker: &str, attr: &str) -> Option<String> {
    let at = dom.find(marker)?;
    let tag_start = dom[..at].rfind('<')?;
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>')?];
    let key = format!("{attr}=\"");
    let v = &tag[tag.find(&key)? + key.len()..];
    Some(v[..v.find('"')?].to_string())
}

#[actix_web::test]
async fn the_live_page_draws_charts_from_real_traffic_in_a_headless_browser() {
    let interval = Duration::from_secs(5);
    let metrics = Metrics::with_history(interval, 60);
    let base = start_server(metrics.clone());
    let client = reqwest::Client::new();
    // Four intervals of traffic; each is closed explicitly (as if 5 s had passed) so the
    // charts get several points without the test waiting for the clock.
    let start = Instant::now();
    for round in 1..=4u32 {
        for id in 1..=(10 * round) {
            let res = client
                .get(format!("{base}/api/products/{id}"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.bytes().await.unwrap();
        }
        for _ in 0..20 {
            client
                .get(format!("{base}/health"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        }
        for _ in 0..round {
            metrics.cache(CacheEvent::Hit);
        }
        metrics.cache(CacheEvent::Miss);
        metrics.tick_if_due(start + interval * round);
    }

    let dom = run_chromium(&["--dump-dom".into(), format!("{base}/dashboard")]).await;
    std::fs::write(artifacts_dir().join("dashboard.html"), &dom).unwrap();

    assert_eq!(
        attr_of(&dom, "id=\"status\"", "data-state").as_deref(),
        Some("ok"),
        "the page loaded its data"
    );
    for chart in ["chart-rps", "chart-p99", "chart-cache"] {
        let points: u64 = attr_of(&dom, &format!("id=\"{chart}\""), "data-points")
            .unwrap_or_else(|| panic!("{chart} was never drawn"))
            .parse()
            .unwrap();
        assert!(points > 0, "{chart} has data points");
    }
    assert!(
        dom.contains("data-route=\"/api/products/{id}\""),
        "the route table lists the pattern, not the raw path"
    );
    assert!(!dom.contains("/api/products/17"), "no raw path on the page");
    assert!(
        attr_of(&dom, "data-route=\"GET /api/products/{id}\"", "class").as_deref()
            == Some("route-chart"),
        "a latency chart per route"
    );

    let shot = artifacts_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(&[
        format!("--screenshot={}", shot.display()),
        format!("{base}/dashboard"),
    ])
    .await;
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "screenshot written ({size} bytes)");
}
