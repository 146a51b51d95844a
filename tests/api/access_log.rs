//! The access log of the real binary, written by its writer thread: one whole line per
//! request, in the order the requests were answered, framed as env_logger frames its
//! own lines (text) or as one JSON object, and none lost when SIGTERM stops the
//! process right after the last answer (the drain flushes the writer).

use crate::helpers::*;
use brisk_testkit::brisk::{Brisk, Target};
use brisk_testkit::process::signal;
use std::time::Duration;

const REQUESTS: usize = 300;

/// Starts `brisk serve` with the access log on in `format`, answers `REQUESTS`
/// requests one after another (each with its own request id), SIGTERMs it at once and
/// returns the request ids and the log once the process has exited 0.
async fn serve_then_stop(format: &str) -> (Vec<String>, String) {
    let db = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    let dir = std::env::temp_dir().join(brisk_testkit::template::scratch_name());
    std::fs::create_dir_all(&dir).unwrap();
    let target = Target {
        database_url: format!("{BOUNCER}/{db}"),
        direct_url: format!("{DIRECT}/{db}"),
        redis_url: "redis://127.0.0.1:6379".into(),
        redis_prefix: brisk_kit::testing::unique_prefix(),
    };
    let extra = ["--access-log", "true", "--log-format", format].map(String::from);
    let path = dir.clone();
    let mut brisk = tokio::task::spawn_blocking(move || {
        Brisk::start(env!("CARGO_BIN_EXE_brisk"), &path, "brisk", &target, &extra)
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..REQUESTS {
        let id = format!("al-{format}-{i}");
        let resp = client
            .get(brisk.url("/health"))
            .header("x-request-id", &id)
            .send()
            .await
            .expect("an answer");
        assert_eq!(resp.status(), 200);
        ids.push(id);
    }
    signal(brisk.pid(), "TERM");
    let exit = brisk.proc.wait_exit(Duration::from_secs(20));
    let log = brisk.proc.log_text();
    assert!(exit.is_some_and(|e| e.success()), "{exit:?}: {log}");
    let _ = std::fs::remove_dir_all(&dir);
    (ids, log)
}

#[actix_web::test]
async fn every_request_has_one_whole_text_line_in_order_and_the_last_survives_sigterm() {
    let (ids, log) = serve_then_stop("text").await;
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" INFO  brisk::access] "))
        .collect();
    let logged: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split("request_id=").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(
        logged, ids,
        "one line per request, in order, the last included"
    );
    for l in &lines {
        // env_logger's frame: `[<RFC 3339 seconds> INFO  brisk::access] <fields>`.
        assert!(l.starts_with('[') && l.as_bytes()[20] == b'Z', "{l}");
        assert!(
            l.contains(" route=/health ") && l.contains(" status=200 "),
            "{l}"
        );
        assert!(l.contains(" cache=") && !l.ends_with(' '), "{l}");
    }
}

#[actix_web::test]
async fn every_request_has_one_json_object_in_order_with_the_log_fields_merged() {
    let (ids, log) = serve_then_stop("json").await;
    let objects: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "brisk::access")
        .collect();
    let logged: Vec<&str> = objects
        .iter()
        .filter_map(|v| v["request_id"].as_str())
        .collect();
    assert_eq!(
        logged, ids,
        "one object per request, in order, the last included"
    );
    for v in &objects {
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["route"], "/health");
        assert!(v["ts"].as_str().is_some_and(|t| t.ends_with('Z')), "{v}");
    }
}
