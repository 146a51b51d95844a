//! Redis's own cost of one rate-limit decision, per strategy and per count held: the
//! exact log (`moving-window`) against the default `sliding-window-counter` and `gcra`,
//! each with a key holding 100 and 100,000 admissions (the bench's plan key held 102,653).
//!
//! `cargo run -p brisk-kit --example limiter_cost`
//!
//! It starts a private `redis-server` (so nobody else's commands share the statistics),
//! fills one key per case through the limiter's own script, then, after
//! `CONFIG RESETSTAT`, reads `INFO commandstats`' `cmdstat_evalsha` `usec_per_call` over
//! 2,000 dry runs (the count stays exactly as filled) and over 1,000 charged decisions
//! (the count grows by 1,000), each the median of five rounds, and `MEMORY USAGE <key> SAMPLES 0` (exact) of the key
//! as filled; then the bench's shape (`steady`: a 5 s limit decided as fast as one
//! connection goes for 6 s, so admissions expire on every call). Each counter is measured twice: filled by the script in a burst (one or
//! two sub-windows) and with the same count spread over all 64 sub-windows (`HSET`
//! directly: the shape a key under steady traffic has, the counter's costliest). A
//! script that returns 1 and a `GET` are measured the same way for scale. Beside each
//! time: the Redis commands the script ran per decision (from the same
//! `INFO commandstats`), which no load on the machine changes.

use brisk_kit::ratelimit::counter::Shape;
use brisk_kit::ratelimit::store::RedisStore;
use brisk_kit::ratelimit::{parse_limits, Check};
use brisk_kit::redis::{Redis, RedisConfig};
use std::sync::Arc;
use std::time::Duration;

const DRY_RUNS: usize = 2_000;
const DECISIONS: usize = 1_000;
/// Each figure is the median of this many rounds (the machine is shared).
const ROUNDS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn cmd<T: redis::FromRedisValue>(redis: &Redis, args: &[&str]) -> T {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query_async(&mut redis.conn())
        .await
        .expect("Redis answers")
}

/// `usec_per_call` of `command` in `INFO commandstats`.
async fn usec_per_call(redis: &Redis, command: &str) -> f64 {
    let info: String = cmd(redis, &["INFO", "commandstats"]).await;
    let line = info
        .lines()
        .find(|l| l.starts_with(&format!("cmdstat_{command}:")))
        .unwrap_or_else(|| panic!("no cmdstat_{command} in {info}"));
    line.split(',')
        .find_map(|f| f.strip_prefix("usec_per_call="))
        .and_then(|v| v.parse().ok())
        .expect("usec_per_call")
}

/// Spreads `held` admissions over the 64 sub-windows before now, as a key under steady
/// traffic holds them (a burst fills one or two): the counter's most expensive shape.
async fn spread(redis: &Redis, check: &Check, held: u64) {
    let shape = Shape::of(check.rate).expect("a counter");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64;
    let current = shape.index(now);
    let mut c = redis::cmd("HSET");
    // The totals the script keeps beside the sub-windows: sum, oldest, newest.
    c.arg(&check.key)
        .arg("n")
        .arg(held)
        .arg("o")
        .arg(current - 63)
        .arg("h")
        .arg(current);
    for i in 0..64 {
        c.arg(current - 63 + i)
            .arg(held / 64 + u64::from(i < held % 64));
    }
    let _: i64 = c.query_async(&mut redis.conn()).await.expect("HSET");
}

/// Commands the scripts ran (every `cmdstat_*` but the script call and this tool's
/// own), per script call: independent of how loaded the machine is.
async fn inner_calls_per_call(redis: &Redis) -> f64 {
    let info: String = cmd(redis, &["INFO", "commandstats"]).await;
    let calls = |l: &str| -> u64 {
        l.split([':', ','])
            .find_map(|f| f.strip_prefix("calls="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let (mut scripts, mut inner) = (0, 0);
    for l in info.lines().filter(|l| l.starts_with("cmdstat_")) {
        if l.starts_with("cmdstat_evalsha:") {
            scripts += calls(l);
        } else if !l.starts_with("cmdstat_config") && !l.starts_with("cmdstat_info") {
            inner += calls(l);
        }
    }
    inner as f64 / scripts.max(1) as f64
}

async fn case(redis: &Redis, store: &RedisStore, strategy: &str, held: u64, spread_out: bool) {
    let limit = format!("10000000 per hour {strategy}");
    let checks = [Check {
        name: Arc::from("plan"),
        rate: parse_limits(&limit).expect("a valid limit")[0],
        key: format!("cost:v1:rl:{{t1}}:{strategy}:{held}:{spread_out}"),
    }];
    if spread_out {
        spread(redis, &checks[0], held).await;
    } else {
        let chunk = held.min(1_000);
        for _ in 0..held / chunk {
            assert!(store.decide(&checks, chunk).await.expect("fill").allowed);
        }
    }
    let key = checks[0].key.as_str();
    let fields: i64 = match cmd::<String>(redis, &["TYPE", key]).await.as_str() {
        "hash" => cmd(redis, &["HLEN", key]).await,
        _ => 0,
    };
    let bytes: i64 = cmd(redis, &["MEMORY", "USAGE", key, "SAMPLES", "0"]).await;
    let (mut dry, mut charged) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let _: () = cmd(redis, &["CONFIG", "RESETSTAT"]).await;
        for _ in 0..DRY_RUNS {
            store.peek(&checks, 1).await.expect("dry run");
        }
        dry.push(usec_per_call(redis, "evalsha").await);
        let _: () = cmd(redis, &["CONFIG", "RESETSTAT"]).await;
        for _ in 0..DECISIONS {
            assert!(store.decide(&checks, 1).await.expect("decide").allowed);
        }
        charged.push(usec_per_call(redis, "evalsha").await);
    }
    let (dry, charged) = (median(dry), median(charged));
    let inner = inner_calls_per_call(redis).await;
    println!(
        "{strategy:<24} {held:>8} held {fields:>3} fields  {dry:>6.2} µs/dry run  {charged:>6.2} µs/decision  {inner:>4.1} commands/decision  {bytes:>8} B"
    );
}

/// The bench's shape: decisions as fast as one connection goes for longer than the
/// period (5 s), so the key holds what one period admits and the oldest admissions
/// expire on every call (the log prunes on every decision).
async fn steady(redis: &Redis, store: &RedisStore, strategy: &str) {
    let checks = [Check {
        name: Arc::from("plan"),
        rate: parse_limits(&format!("10000000 per 5 seconds {strategy}")).expect("valid")[0],
        key: format!("cost:v1:rl:{{t1}}:{strategy}:steady"),
    }];
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        store.decide(&checks, 1).await.expect("decide");
    }
    let mut charged = Vec::new();
    for _ in 0..ROUNDS {
        let _: () = cmd(redis, &["CONFIG", "RESETSTAT"]).await;
        for _ in 0..DECISIONS {
            store.decide(&checks, 1).await.expect("decide");
        }
        charged.push(usec_per_call(redis, "evalsha").await);
    }
    let charged = median(charged);
    let inner = inner_calls_per_call(redis).await;
    let key = checks[0].key.as_str();
    let held = store.peek(&checks, 1).await.expect("peek").statuses[0].remaining;
    let held = 10_000_000 - held;
    let bytes: i64 = cmd(redis, &["MEMORY", "USAGE", key, "SAMPLES", "0"]).await;
    println!(
        "{strategy:<24} {held:>8} held, steady, 5 s period  {charged:>6.2} µs/decision  {inner:>4.1} commands/decision  {bytes:>8} B"
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("limiter-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let server = brisk_testkit::redis::Redis::start(&dir);
    let redis = Redis::new(&RedisConfig {
        url: server.url(),
        timeout: Duration::from_secs(10),
        prefix: "cost".into(),
        ..RedisConfig::default()
    })
    .expect("a valid Redis URL");
    let version: String = cmd(&redis, &["INFO", "server"]).await;
    let version = version
        .lines()
        .find(|l| l.starts_with("redis_version:"))
        .unwrap_or("redis_version:?");
    println!("private {version}; Redis time per EVALSHA from INFO commandstats");
    let store = RedisStore::new(redis.clone());
    for held in [100, 100_000] {
        case(&redis, &store, "moving-window", held, false).await;
        case(&redis, &store, "sliding-window-counter", held, false).await;
        case(&redis, &store, "sliding-window-counter", held, true).await;
        case(&redis, &store, "gcra", held, false).await;
    }
    steady(&redis, &store, "moving-window").await;
    steady(&redis, &store, "sliding-window-counter").await;
    // No steady row for gcra: nothing of it expires, and one connection cannot keep a
    // 10,000,000-per-5-s TAT ahead of the clock (its key is gone between calls).
    // Its rows above (100 and 100,000 held) are the same one string.
    let noop = redis::Script::new("return 1");
    let _: () = cmd(&redis, &["CONFIG", "RESETSTAT"]).await;
    for _ in 0..DRY_RUNS {
        let _: i64 = noop.invoke_async(&mut redis.conn()).await.expect("noop");
    }
    // (one round: for scale only)
    println!(
        "a script returning 1, for scale: {:.2} µs",
        usec_per_call(&redis, "evalsha").await
    );
    let _: () = cmd(&redis, &["SET", "cost:get", "x"]).await;
    let _: () = cmd(&redis, &["CONFIG", "RESETSTAT"]).await;
    for _ in 0..DRY_RUNS {
        let _: Option<String> = cmd(&redis, &["GET", "cost:get"]).await;
    }
    println!(
        "GET for scale: {:.2} µs",
        usec_per_call(&redis, "get").await
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
