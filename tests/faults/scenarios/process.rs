//! Process-level scenarios: SIGTERM under load (11), exports reset by their
//! clients (9) and a million-order export (14), and a background loop that
//! panics (15). Slowloris (10) is in `slowloris.rs`.

use super::{client, flags, high_limits, metric, Env};
use crate::harness::db::{self, DIRECT};
use crate::harness::load::{self, Kind, LoadSpec, Sample, Stats};
use crate::harness::report::{ms, scenario_dir, Row};
use crate::harness::{blocking, brisk_bin, key, TENANT};
use brisk_testkit::brisk::{Brisk, Target};
use brisk_testkit::process::{rss_kib, signal, Proc};
use brisk_testkit::raw;
use brisk_testkit::wait::wait_until;
use futures_util::StreamExt;
use std::time::{Duration, Instant};

/// 15: one round of the warming scheduler panics while 4 clients read. The
/// trigger is compiled only with the `fault-injection` feature (scripts/faults.sh
/// builds with it) and armed by `BRISK_FAULT_PANIC_ONCE=warmer`.
pub async fn s15() -> Row {
    let env = Env::new(15).await;
    let mut row = Row::new(
        15,
        "background loop panic",
        "W6 reads, 4 clients, 8 s",
        "one round of the warming scheduler panics (BRISK_FAULT_PANIC_ONCE=warmer)",
    );
    let brisk = Brisk::start_with_env(
        brisk_bin(),
        &env.dir,
        "brisk",
        &env.shared(),
        &high_limits(),
        &[("BRISK_FAULT_PANIC_ONCE", "warmer")],
    );
    let clock = Instant::now();
    let mix = env.w6_mix(&brisk, 0);
    let running = load::start(LoadSpec::new(4, Duration::from_secs(8)), clock, false, mix);
    let http = client();
    let warmer = r#"brisk_actor_restarts_total{actor="warmer"}"#;
    let restarted = wait_until(Duration::from_secs(7), || async {
        metric(&http, &brisk.base, warmer).await == Some(1.0)
    })
    .await;
    let samples = running.finish().await;
    row.stats = Stats::of(&samples);
    // Still 1 at the end: restarted once, not spinning; the process kept serving.
    let restarts = metric(&http, &brisk.base, warmer).await;
    let log = brisk.proc.log_text();
    let panicked = log.contains("a round of background actor warmer panicked");
    let resumed = log.contains("background actor warmer restarted by its supervisor");
    row.data =
        format!("restarts counted {restarts:?}; panic logged {panicked}; restart logged {resumed}");
    if let Some(at) = restarted {
        row.note(format!("restart counted {} after start", ms(at)));
    }
    row.check(
        restarted.is_some() && restarts == Some(1.0),
        format!("{warmer} is {restarts:?}, expected 1 (restarted once)"),
    );
    row.check(
        panicked && resumed,
        "the panic and the restart are not both logged",
    );
    row.check(
        !samples.is_empty() && row.stats.non_2xx == 0,
        format!(
            "serving affected: {} non-2xx ({} without a response) of {}",
            row.stats.non_2xx,
            row.stats.no_response,
            samples.len()
        ),
    );
    let ready = http.get(brisk.url("/ready")).send().await;
    let ready = ready.map(|r| r.status().as_u16()).unwrap_or(0);
    row.check(
        ready == 200,
        format!("/ready answers {ready} after the restart"),
    );
    drop(brisk);
    row
}

/// 11: SIGTERM while 64 keep-alive clients run the W6 mix.
pub async fn s11() -> Row {
    let env = Env::new(11).await;
    let mut row = Row::new(
        11,
        "SIGTERM under load",
        "W6 mix, 64 keep-alive connections (1 write in 10)",
        "SIGTERM at 3 s, --shutdown-timeout-secs 5",
    );
    let mut extra = high_limits();
    extra.extend(flags(&[
        "--shutdown-timeout-secs",
        "5",
        "--pool-size",
        "16",
    ]));
    let mut brisk = Brisk::start(brisk_bin(), &env.dir, "brisk", &env.shared(), &extra);
    let clock = Instant::now();
    let mix = env.w6_mix(&brisk, 10);
    let mut spec = LoadSpec::new(64, Duration::from_secs(15));
    spec.stop_on_connect_error = true;
    let running = load::start(spec, clock, true, mix);
    // SIGTERM once every connection is busy with the mix, not after a fixed pause.
    running.until_answered(1_000, Duration::from_secs(10)).await;
    let term_at = clock.elapsed();
    signal(brisk.pid(), "TERM");
    let mut proc = std::mem::replace(&mut brisk.proc, Proc::none());
    let (status, exit_at) = blocking(move || {
        let status = proc.wait_exit(Duration::from_secs(15));
        (status, clock.elapsed())
    })
    .await;
    let samples = running.finish().await;
    row.stats = Stats::of(&samples);
    let lost: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.status == 0 && !s.connect_error)
        .collect();
    let exit_after = exit_at.saturating_sub(term_at);
    row.note(format!(
        "exit {} after SIGTERM ({status:?})",
        ms(exit_after)
    ));
    row.check(
        lost.is_empty(),
        format!(
            "{} requests sent on an open connection got no response (first at {}, SIGTERM at {}; {:?})",
            lost.len(),
            lost.first().map(|s| ms(s.start)).unwrap_or_default(),
            ms(term_at),
            lost.iter().map(|s| s.route).collect::<Vec<_>>()
        ),
    );
    // A clean drain ends in exit 0; a panic, an abort or a signal's death does not.
    row.check(
        status.is_some_and(|s| s.success()),
        format!("the process did not exit 0 within 15 s of SIGTERM: {status:?}"),
    );
    row.check(
        exit_after <= Duration::from_secs(6),
        format!("exit took {} (shutdown timeout 5 s + 1 s)", ms(exit_after)),
    );
    row.check(
        row.stats.five_xx == 0,
        format!("{} × 5xx", row.stats.five_xx),
    );
    let stale = stale_catalog_entries(&env).await;
    row.data = format!(
        "{} lost; catalog after restart: {stale} products differ from the database",
        lost.len()
    );
    row.check(
        stale == 0,
        format!("{stale} catalog prices stale: invalidations not flushed"),
    );
    row
}

/// Starts a second process on the same database and Redis prefix and counts the
/// catalog products whose price differs from the database.
async fn stale_catalog_entries(env: &Env) -> usize {
    let brisk = Brisk::start(
        brisk_bin(),
        &env.dir,
        "brisk-after",
        &env.shared(),
        &high_limits(),
    );
    let body: serde_json::Value = client()
        .get(brisk.url("/api/catalog"))
        .bearer_auth(key(TENANT))
        .send()
        .await
        .expect("GET /api/catalog")
        .json()
        .await
        .unwrap_or_default();
    let prices = env
        .sql(&format!(
            "SELECT id, price_cents FROM products WHERE tenant_id = {TENANT} ORDER BY id"
        ))
        .await;
    let empty = Vec::new();
    let cached = body["products"].as_array().unwrap_or(&empty);
    prices
        .lines()
        .filter(|line| {
            let (id, price) = line.split_once('|').unwrap_or(("", ""));
            let (id, price) = (id.parse::<i64>().ok(), price.parse::<i64>().ok());
            !cached
                .iter()
                .any(|p| p["id"].as_i64() == id && p["price_cents"].as_i64() == price)
        })
        .count()
}

/// Exports per round of scenario 9.
const EXPORTS: usize = 100;
/// Bytes each export is read to before its reset.
const RESET_AFTER: usize = 64 * 1024;

/// One round of scenario 9: [`EXPORTS`] exports at once, each reset after
/// [`RESET_AFTER`] bytes. Checks that none answered 200 and stopped short, and that
/// at least one streamed to the reset (if every export were refused, nothing was
/// reset mid-body and the round proves nothing); one sample per export.
async fn reset_exports_round(brisk: &Brisk, round: usize, row: &mut Row) -> Vec<Sample> {
    let clock = Instant::now();
    let got =
        futures_util::future::join_all((0..EXPORTS).map(|_| reset_after_64k(brisk.port))).await;
    // An export refused before its body (429, 503) is fair under this load;
    // one that answered 200 and then stopped short is a truncated file.
    let short: Vec<&String> = got
        .iter()
        .filter(|g| g.0 < RESET_AFTER)
        .map(|g| &g.1)
        .collect();
    let truncated = short.iter().filter(|l| l.contains(" 200 ")).count();
    let streamed = got.len() - short.len();
    let mut kinds: Vec<&String> = short.clone();
    kinds.sort();
    kinds.dedup();
    if !short.is_empty() {
        row.note(format!(
            "round {round}: {} answers under 64 KB, beginning {kinds:?}",
            short.len()
        ));
    }
    row.note(format!(
        "round {round}: {streamed} of {EXPORTS} streamed 64 KB and were reset"
    ));
    row.check(
        truncated == 0,
        format!("round {round}: {truncated} exports answered 200 and ended before 64 KB"),
    );
    row.check(
        streamed >= 1,
        format!("round {round}: no export streamed 64 KB (all {EXPORTS} refused or cut): nothing was reset mid-body"),
    );
    got.iter()
        .map(|(n, line)| Sample {
            start: Duration::ZERO,
            latency: clock.elapsed(),
            // A 200 cut short counts as no (complete) response.
            status: match line.split_whitespace().nth(1) {
                _ if *n >= RESET_AFTER => 200,
                Some(code) if code != "200" => code.parse().unwrap_or(0),
                _ => 0,
            },
            kind: Kind::Read,
            route: "GET /api/export.csv",
            connect_error: false,
            retry_after: false,
        })
        .collect()
}

/// 9: 100 clients reset their connection after 64 KB of an export, twice.
pub async fn s09() -> Row {
    let env = Env::at_scale(9, "0.2").await;
    let mut row = Row::new(
        9,
        "export clients reset",
        "2 rounds of 100 parallel GET /api/export.csv (10,000 orders)",
        "each client resets its connection after 64 KB",
    );
    let mut extra = high_limits();
    extra.extend(flags(&[
        "--rate-limit-export",
        "100000 per day",
        "--max-concurrent-exports",
        "100",
    ]));
    let brisk = Brisk::start(brisk_bin(), &env.dir, "brisk", &env.shared(), &extra);
    let http = client();
    let rss0 = rss_kib(brisk.pid()).unwrap_or(0);
    let mut samples = Vec::new();
    let mut rss = Vec::new();
    for round in 0..2 {
        samples.extend(reset_exports_round(&brisk, round, &mut row).await);
        let settled = idle(&env, &http, &brisk, Duration::from_secs(5)).await;
        row.check(
            settled.is_some(),
            format!("round {round}: connections or queries still busy 5 s after the resets"),
        );
        row.note(format!(
            "round {round} settled in {}",
            settled.map(ms).unwrap_or_else(|| "> 5 s".into())
        ));
        rss.push(rss_kib(brisk.pid()).unwrap_or(0));
    }
    row.stats = Stats::of(&samples);
    let growth = rss[1].saturating_sub(rss[0]);
    row.data = format!(
        "RSS {} → {} → {} MiB",
        rss0 / 1024,
        rss[0] / 1024,
        rss[1] / 1024
    );
    row.check(
        growth < 10 * 1024,
        format!(
            "RSS grew {} MiB from round 1 to round 2 (flat: < 10 MiB)",
            growth / 1024
        ),
    );
    drop(brisk);
    row
}

/// One export read to 64 KB, then reset; the bytes read and the status line.
async fn reset_after_64k(port: u16) -> (usize, String) {
    let bytes = raw::request("GET", port, "/api/export.csv", &key(TENANT), &[], None);
    let Ok(mut stream) = raw::send(port, &bytes).await else {
        return (0, "no connection".into());
    };
    let got = raw::read_at_least(&mut stream, RESET_AFTER, Duration::from_secs(30)).await;
    raw::reset(stream);
    got
}

/// Waits until brisk's pool has nothing checked out and the database runs no
/// statement of its; how long it took.
async fn idle(
    env: &Env,
    http: &reqwest::Client,
    brisk: &Brisk,
    timeout: Duration,
) -> Option<Duration> {
    wait_until(timeout, || {
        let d = env.db.clone();
        let base = brisk.base.clone();
        async move {
            let active = blocking(move || db::sessions_in_state(&d, "active")).await;
            let in_use = metric(http, &base, "brisk_pool_in_use_connections{pool=\"db\"}").await;
            active == 0 && in_use == Some(0.0)
        }
    })
    .await
}

/// The scale-20 database of scenario 14, seeded once and kept between runs.
const SCALE20_DB: &str = "brisk_faults_scale20";

/// 14: the export of tenant 1's 1,000,000 orders streams to the end with RSS
/// growth under 50 MB.
pub async fn s14() -> Row {
    let dir = scenario_dir(14);
    let mut row = Row::new(
        14,
        "export of 1,000,000 orders",
        "one GET /api/export.csv of tenant 1 (scale 20)",
        "none: memory under a long stream",
    );
    let seeded = Instant::now();
    blocking(ensure_scale20).await;
    row.note(format!(
        "database ready in {} s",
        seeded.elapsed().as_secs()
    ));
    let target = Target {
        database_url: format!("{}/{SCALE20_DB}", db::BOUNCER),
        direct_url: format!("{DIRECT}/{SCALE20_DB}"),
        redis_url: "redis://127.0.0.1:6379".into(),
        redis_prefix: format!("faults-{}", uuid::Uuid::new_v4().simple()),
    };
    let mut extra = high_limits();
    extra.extend(flags(&["--rate-limit-export", "100 per day"]));
    let brisk = Brisk::start(brisk_bin(), &dir, "brisk", &target, &extra);
    let pid = brisk.pid();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(600))
        .build()
        .expect("client");
    let _ = http.get(brisk.url("/health")).send().await;
    let rss_before = rss_kib(pid).unwrap_or(0);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(rss_before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            for _ in 0..6000 {
                if let Some(r) = rss_kib(pid) {
                    peak.fetch_max(r, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let start = Instant::now();
    let (status, lines, bytes) = stream_export(&http, &brisk.url("/api/export.csv"), key(1)).await;
    sampler.abort();
    let took = start.elapsed();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    let growth_mib = peak.saturating_sub(rss_before) as f64 / 1024.0;
    row.stats = Stats::of(&[Sample {
        start: Duration::ZERO,
        latency: took,
        status,
        kind: Kind::Read,
        route: "GET /api/export.csv",
        connect_error: false,
        retry_after: false,
    }]);
    row.data = format!(
        "{lines} lines, {} MB in {:.1} s; RSS {} → peak {} MiB (+{growth_mib:.1})",
        bytes / 1_000_000,
        took.as_secs_f64(),
        rss_before / 1024,
        peak / 1024
    );
    row.check(status == 200, format!("status {status}"));
    row.check(
        lines == 1_000_001,
        format!("{lines} lines, not 1,000,001 (header + 1,000,000)"),
    );
    row.check(
        growth_mib < 50.0,
        format!("RSS grew {growth_mib:.1} MiB (limit 50 MB)"),
    );
    drop(brisk);
    row
}

/// Streams `url`; (status, newline count, bytes).
async fn stream_export(http: &reqwest::Client, url: &str, key: String) -> (u16, usize, usize) {
    let Ok(resp) = http.get(url).bearer_auth(key).send().await else {
        return (0, 0, 0);
    };
    let status = resp.status().as_u16();
    let mut stream = resp.bytes_stream();
    let (mut lines, mut bytes) = (0, 0);
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return (0, lines, bytes);
        };
        bytes += chunk.len();
        lines += chunk.iter().filter(|&&b| b == b'\n').count();
    }
    (status, lines, bytes)
}

/// Seeds the scale-20 database unless a complete one is there, and brings a kept one
/// up to the binary's migrations.
fn ensure_scale20() {
    let exists = db::int(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{SCALE20_DB}'"),
    ) == 1;
    let complete = exists
        && db::try_psql(
            SCALE20_DB,
            "SELECT count(*) FROM orders WHERE tenant_id = 1",
        )
        .as_deref()
            == Ok("1000000");
    if complete {
        db::migrate(SCALE20_DB);
    } else {
        db::drop_db(SCALE20_DB);
        db::migrate_and_seed(SCALE20_DB, "20");
    }
}
