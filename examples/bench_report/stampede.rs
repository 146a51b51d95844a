//! The stampede experiment: `n` concurrent requests for one cold product summary, and
//! what they cost (read from `/metrics` before and after).

use crate::runs::Stampede;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SUMMARY_ROUTE: &str = "route=\"/api/products/{id}/summary\"";

/// Runs the experiment and prints its outcome as one JSON line.
pub fn stampede(base: &str, key: &str, product: &str, n: &str) -> Result<(), String> {
    let n: usize = n.parse().map_err(|_| format!("n: not a number: {n}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let out = rt.block_on(measure(base, key, product, n))?;
    println!(
        "{}",
        serde_json::to_string(&out).map_err(|e| e.to_string())?
    );
    Ok(())
}

async fn measure(base: &str, key: &str, product: &str, n: usize) -> Result<Stampede, String> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(n)
        .build()
        .map_err(|e| e.to_string())?;
    let before = scrape(&client, base).await?;
    let url = format!("{base}/api/products/{product}/summary");
    let started = Instant::now();
    let statuses = fire(&client, &url, key, n).await;
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let after = scrape_once_counted(&client, base, &before, n).await?;
    let delta = |family: &str, needle: &str| {
        metric_sum(&after, family, needle) - metric_sum(&before, family, needle)
    };
    Ok(Stampede {
        kind: "stampede".into(),
        n,
        ok: statuses.get(&200).copied().unwrap_or(0),
        statuses,
        statements: delta("brisk_http_request_statements_sum", SUMMARY_ROUTE),
        cache_miss: delta("brisk_cache_events_total", "outcome=\"miss\""),
        cache_coalesced: delta("brisk_cache_events_total", "outcome=\"coalesced\""),
        cache_hit: delta("brisk_cache_events_total", "outcome=\"hit\""),
        wall_ms,
    })
}

/// `n` requests released together by a barrier; their statuses (0: no answer).
async fn fire(client: &reqwest::Client, url: &str, key: &str, n: usize) -> BTreeMap<u16, usize> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (client, url, key, barrier) = (
                client.clone(),
                url.to_string(),
                key.to_string(),
                barrier.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                match client.get(&url).bearer_auth(&key).send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let _ = res.bytes().await;
                        status
                    }
                    Err(_) => 0,
                }
            })
        })
        .collect();
    let mut statuses = BTreeMap::new();
    for t in tasks {
        *statuses.entry(t.await.unwrap_or(0)).or_insert(0) += 1;
    }
    statuses
}

/// `/metrics` once all `n` requests are counted in it (the access log records a request
/// when its body ends), waiting at most 10 s.
async fn scrape_once_counted(
    client: &reqwest::Client,
    base: &str,
    before: &str,
    n: usize,
) -> Result<String, String> {
    let count = |t: &str| metric_sum(t, "brisk_http_requests_total", SUMMARY_ROUTE);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = scrape(client, base).await?;
    while count(&after) - count(before) < n as f64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = scrape(client, base).await?;
    }
    Ok(after)
}

async fn scrape(client: &reqwest::Client, base: &str) -> Result<String, String> {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())
}

/// Sum of every sample of `family` whose labels contain `needle`.
fn metric_sum(text: &str, family: &str, needle: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with(family) && l[family.len()..].starts_with('{') && l.contains(needle)
        })
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}
