//! The cross-process stampede, measured on the kit's cache alone: how long the callers
//! of the processes that did NOT compute wait, and which Redis commands the stampede
//! costs, with waiters polling (`waiter_connections` 0, the old behaviour) and
//! blocking on the holder's wake-up (the default, 4 blocking connections).
//!
//! `cargo run --release -p brisk-kit --example stampede_wait [rounds] [compute_ms]`
//!
//! It starts a private `redis-server` (nobody else's commands in its statistics). Four
//! caches, each with its own Redis handle (its own connections and single-flight
//! registry: four processes as far as Redis can tell), each get 50 concurrent reads
//! of one cold view; the one computation takes 150 ms (or `compute_ms`). A round uses a new scope (a
//! cold key). Printed per mode: the waiting processes' callers' latency (p50, p99,
//! max, over every round), the computing process's, and the Redis commands per round
//! from `INFO commandstats` after `CONFIG RESETSTAT` (exact: no load changes them).

use brisk_kit::cache::{Cache, CacheConfig, Scope, ViewKey};
use brisk_kit::metrics::Metrics;
use brisk_kit::redis::{Redis, RedisConfig};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PROCESSES: usize = 4;
const CALLERS: usize = 50;

async fn cmd<T: redis::FromRedisValue>(redis: &Redis, args: &[&str]) -> T {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query_async(&mut redis.conn())
        .await
        .expect("Redis answers")
}

/// Calls per command since the last `CONFIG RESETSTAT` (this tool's own left out).
async fn calls(redis: &Redis) -> BTreeMap<String, u64> {
    let info: String = cmd(redis, &["INFO", "commandstats"]).await;
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let n = rest.split(',').find_map(|f| f.strip_prefix("calls="))?;
            Some((name.to_string(), n.parse().ok()?))
        })
        .filter(|(name, _)| name != "config" && name != "info")
        .collect()
}

fn handle(url: &str, prefix: &str) -> Redis {
    Redis::new(&RedisConfig {
        url: url.to_string(),
        timeout: Duration::from_secs(2),
        prefix: prefix.to_string(),
        ..RedisConfig::default()
    })
    .expect("a valid Redis URL")
}

fn view(tenant: i64) -> ViewKey<'static> {
    ViewKey {
        namespace: "catalog",
        route: "/api/catalog",
        query: "",
        only: None,
        scope: Scope::Tenant(tenant),
    }
}

/// One round: every caller of every cache reads `tenant`'s cold view at once.
/// Returns (latency, whether its cache computed) per caller.
async fn round(caches: &[Cache], tenant: i64, took: Duration) -> Vec<(Duration, bool)> {
    let computed: Vec<Arc<AtomicUsize>> = caches.iter().map(|_| Arc::default()).collect();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, cache) in caches.iter().enumerate() {
        for _ in 0..CALLERS {
            let (cache, count) = (cache.clone(), computed[i].clone());
            tasks.push(tokio::spawn(async move {
                let compute = move || async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(took).await;
                    Ok::<_, String>(Bytes::from_static(b"[the catalog]"))
                };
                let got = cache.view(view(tenant), Duration::from_secs(60), None, compute);
                got.await.expect("a value");
                (i, start.elapsed())
            }));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        let (i, took) = t.await.expect("a caller");
        out.push((took, computed[i].load(Ordering::SeqCst) > 0));
    }
    let total: usize = computed.iter().map(|c| c.load(Ordering::SeqCst)).sum();
    assert_eq!(total, 1, "one computation per stampede");
    out
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

async fn mode(
    url: &str,
    admin: &Redis,
    waiter_connections: u32,
    rounds: i64,
    run: usize,
    compute: Duration,
) {
    // A prefix per run: every round's key is cold.
    let prefix = format!("s{run}-{}", std::process::id());
    let config = CacheConfig {
        waiter_connections,
        ..CacheConfig::default()
    };
    let caches: Vec<Cache> = (0..PROCESSES)
        .map(|_| Cache::new(Some(handle(url, &prefix)), Metrics::new(), config.clone()))
        .collect();
    // One warm-up round (connections, scripts loaded), not counted.
    round(&caches, 1_000_000, compute).await;
    let _: () = cmd(admin, &["CONFIG", "RESETSTAT"]).await;
    let (mut waiters, mut computing) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        for (took, here) in round(&caches, r, compute).await {
            if here { &mut computing } else { &mut waiters }.push(took);
        }
    }
    let counted = calls(admin).await;
    waiters.sort_unstable();
    computing.sort_unstable();
    let per_round: Vec<String> = counted
        .iter()
        .map(|(name, n)| format!("{name} {:.1}", *n as f64 / rounds as f64))
        .collect();
    let total: u64 = counted.values().sum();
    println!(
        "waiter_connections {waiter_connections}: waiting processes' callers p50 {:.1} ms p99 {:.1} ms max {:.1} ms ({} callers); computing process's p50 {:.1} p99 {:.1} ms; Redis commands per stampede {:.1}: {}",
        percentile(&waiters, 0.5),
        percentile(&waiters, 0.99),
        percentile(&waiters, 1.0),
        waiters.len(),
        percentile(&computing, 0.5),
        percentile(&computing, 0.99),
        total as f64 / rounds as f64,
        per_round.join(", ")
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: i64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let compute_ms: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(150);
    let compute = Duration::from_millis(compute_ms);
    let dir = std::env::temp_dir().join(format!("stampede-wait-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    // STAMPEDE_REDIS_URL: an existing server instead (to watch it with MONITOR).
    let server = std::env::var("STAMPEDE_REDIS_URL")
        .is_err()
        .then(|| brisk_testkit::redis::Redis::start(&dir));
    let url = server.as_ref().map_or_else(
        || std::env::var("STAMPEDE_REDIS_URL").expect("set"),
        |s| s.url(),
    );
    let admin = handle(&url, "admin");
    println!(
        "{PROCESSES} caches × {CALLERS} callers, one {} ms computation, {rounds} rounds per mode",
        compute.as_millis()
    );
    for (run, waiter_connections) in [0, 4, 0, 4].into_iter().enumerate() {
        mode(&url, &admin, waiter_connections, rounds, run, compute).await;
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
