//! The request id and trace id on every log line of a request, not only its access
//! line: the real binary with `--log-format json` and Redis down, so the first request
//! trips the Redis breakers and their warnings are written while it runs.

use crate::helpers::*;
use brisk_testkit::brisk::{Brisk, Target};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The JSON lines of `log` that parse.
fn json_lines(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test]
async fn a_warning_written_during_a_request_carries_its_request_id_and_the_callers_trace_id() {
    let db = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    let dir = std::env::temp_dir().join(brisk_testkit::template::scratch_name());
    std::fs::create_dir_all(&dir).unwrap();
    let target = Target {
        database_url: format!("{BOUNCER}/{db}"),
        direct_url: format!("{DIRECT}/{db}"),
        // Nothing listens on port 1: every Redis call fails at once.
        redis_url: "redis://127.0.0.1:1".into(),
        redis_prefix: brisk_kit::testing::unique_prefix(),
    };
    let extra = ["--log-format", "json", "--access-log", "true"].map(String::from);
    let (path, bin) = (dir.clone(), env!("CARGO_BIN_EXE_brisk"));
    let brisk =
        tokio::task::spawn_blocking(move || Brisk::start(bin, &path, "brisk", &target, &extra))
            .await
            .unwrap();

    let traceparent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let resp = reqwest::Client::new()
        .get(brisk.url("/api/catalog"))
        .bearer_auth(key(2))
        .header("traceparent", &traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "served without Redis");
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();

    // The access line is written when the body ends: wait for it, then read every line.
    let log = || brisk.proc.log_text();
    let access_written = wait_until(std::time::Duration::from_secs(10), || async {
        json_lines(&log())
            .iter()
            .any(|l| l["target"] == "brisk::access" && l["request_id"] == request_id.as_str())
    })
    .await;
    assert!(access_written, "no access line:\n{}", log());
    let lines = json_lines(&log());
    // Background work (the cache preload) also meets Redis down and names no request;
    // the one request sent wrote at least one warning, and every line naming a
    // request names this one.
    let warnings: Vec<_> = lines
        .iter()
        .filter(|l| l["level"] == "WARN" && l.get("request_id").is_some())
        .collect();
    assert!(
        !warnings.is_empty(),
        "the request wrote no warning:\n{}",
        log()
    );
    for w in lines.iter().filter(|l| l.get("request_id").is_some()) {
        assert_eq!(w["request_id"], request_id.as_str(), "{w}");
        assert_eq!(w["trace_id"], TRACE_ID, "{w}");
    }
    let access = lines
        .iter()
        .find(|l| l["target"] == "brisk::access")
        .unwrap();
    assert_eq!(access["trace_id"], TRACE_ID, "{access}");
    // Lines outside any request (start-up) name none.
    let listening = lines
        .iter()
        .find(|l| {
            l["msg"]
                .as_str()
                .is_some_and(|m| m.contains("brisk listening on"))
        })
        .expect("the start-up line");
    assert!(listening.get("request_id").is_none(), "{listening}");
    drop(brisk);
    let _ = std::fs::remove_dir_all(&dir);
}
