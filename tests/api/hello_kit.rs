//! `kit/examples/hello_kit.rs`, an application built on `brisk_kit` alone, run as its
//! own process against the real PostgreSQL (through PgBouncer) and Redis: its cached
//! view hits, its route limit answers 429, its own plan limits its protected route, and
//! `/metrics` labels its route.

use crate::helpers::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The example's binary, built next to this test binary (`scripts/test.sh` builds
/// the examples before the tests).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join("examples").join("hello_kit");
    assert!(
        path.exists(),
        "{} missing: run `cargo build --examples`",
        path.display()
    );
    path
}

/// Kills the example when the test ends, passing or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the example on port 0 and reads its port from the kit's start-up line.
fn start(db_name: &str) -> (Running, u16) {
    let mut child = Command::new(example_binary())
        .args([
            "127.0.0.1:0",
            &format!("{BOUNCER}/{db_name}"),
            &brisk_kit::testing::unique_prefix(),
        ])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hello_kit");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let port = rest.split(' ').next().and_then(|a| a.rsplit(':').next());
                let _ = tx.send(port.and_then(|p| p.parse::<u16>().ok()));
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("hello_kit printed no listening line")
        .expect("a port in the listening line");
    (Running(child), port)
}

/// hello_kit's own plan: its protected route wants the demo key and allows 2 a minute.
async fn check_the_hobby_plan(client: &reqwest::Client, base: &str) {
    let whoami = || {
        client
            .get(format!("{base}/private/whoami"))
            .header("x-api-key", "hello-demo-key")
            .send()
    };
    let anonymous = client.get(format!("{base}/private/whoami")).send();
    assert_eq!(anonymous.await.unwrap().status(), 401, "no key, no caller");
    for remaining in ["1", "0"] {
        let res = whoami().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-ratelimit-limit"], "2", "the hobby plan");
        assert_eq!(res.headers()["x-ratelimit-remaining"], remaining);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["plan"], "hobby");
    }
    assert_eq!(whoami().await.unwrap().status(), 429, "over 2 per minute");
}

#[tokio::test]
async fn hello_kit_serves_a_cached_view_a_memo_a_route_limit_its_own_plan_and_metrics() {
    let db_name = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    let (_app, port) = start(&db_name);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).send();

    let first = get("/greet/fr").await.unwrap();
    assert_eq!(first.status(), 200);
    let second = get("/greet/fr").await.unwrap();
    assert_eq!(
        second.headers()["x-cache"],
        "hit",
        "the second read is served by the cache"
    );
    let body: serde_json::Value = second.json().await.unwrap();
    assert_eq!(body["greeting"], "bonjour");
    assert_eq!(get("/greet/fr").await.unwrap().status(), 200);
    let limited = get("/greet/fr").await.unwrap();
    assert_eq!(
        limited.status(),
        429,
        "the fourth read in a minute is over 3 per minute"
    );
    assert!(limited.headers().contains_key("retry-after"));

    check_the_hobby_plan(&client, &base).await;

    let langs = get("/languages").await.unwrap();
    assert_eq!(langs.status(), 200);
    assert_eq!(langs.text().await.unwrap(), "\"en,fr\"");

    let metrics = || async { get("/metrics").await.unwrap().text().await.unwrap() };
    let counted = wait_until(Duration::from_secs(10), || async {
        let metrics = metrics().await;
        let line = metrics.lines().find(|l| {
            l.starts_with("brisk_http_requests_total") && l.contains("route=\"/greet/{lang}\"")
        });
        line.is_some()
            && metrics.contains("brisk_cache_events_total{kind=\"view\",outcome=\"hit\"}")
    })
    .await;
    assert!(
        counted,
        "no /greet/{{lang}} line in /metrics:\n{}",
        metrics().await
    );
}
