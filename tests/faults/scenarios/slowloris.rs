//! Slowloris (10): 500 connections dribble request heads while a client measures
//! `/health` and the cached catalog; the server must keep answering them as fast
//! as before, with the slow connections proven open on its side.

use super::{high_limits, Env};
use crate::harness::load::{self, Kind, LoadSpec, Sample, Stats};
use crate::harness::report::{ms, Row};
use crate::harness::{blocking, brisk_bin, key, sockets, TENANT};
use brisk_testkit::brisk::Brisk;
use brisk_testkit::raw;
use brisk_testkit::wait::wait_until;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Slow connections of scenario 10.
const SLOW: usize = 500;

/// Scenario 10's probe: `/health` and the cached catalog, alternately.
fn health_and_catalog(base: String) -> load::MakeRequest {
    Arc::new(move |c: &reqwest::Client, w: usize, i: u64| {
        if (w as u64 + i).is_multiple_of(2) {
            (c.get(format!("{base}/health")), Kind::Read, "GET /health")
        } else {
            let req = c
                .get(format!("{base}/api/catalog"))
                .bearer_auth(key(TENANT));
            (req, Kind::Read, "GET /api/catalog")
        }
    })
}

/// [`SLOW`] tasks, each dribbling a request head a byte a second until `until`,
/// reconnecting when the server closes it (at most 10 times); each task's count of
/// closes by the server.
fn start_slowloris(
    port: u16,
    until: tokio::time::Instant,
    connected: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<u32>> {
    (0..SLOW)
        .map(|_| {
            let connected = Arc::clone(connected);
            tokio::spawn(async move {
                let mut closed = 0u32;
                while tokio::time::Instant::now() < until && closed < 10 {
                    if raw::slowloris(port, Duration::from_secs(1), until, &connected).await {
                        closed += 1;
                    }
                }
                closed
            })
        })
        .collect()
}

/// Connections brisk holds open on its port, from its own socket table.
fn held_by_server(brisk: &Brisk) -> usize {
    sockets::count_on_port(brisk.pid(), brisk.port, sockets::ESTABLISHED)
}

/// Waits until brisk itself holds the [`SLOW`] slow connections open (before the
/// probes start, no other client is connected), so the window measures a server
/// under slowloris, not one whose attackers never got in.
async fn check_slow_connections_open(brisk: &Brisk, row: &mut Row) {
    let all_open = wait_until(Duration::from_secs(5), || async {
        held_by_server(brisk) >= SLOW
    })
    .await;
    row.note(format!(
        "{SLOW} slow connections held by the server {}",
        all_open.map_or("after more than 5 s".into(), |d| format!("after {}", ms(d)))
    ));
    row.check(
        all_open.is_some(),
        format!(
            "brisk held {} connections 5 s after the slowloris began, not {SLOW}",
            held_by_server(brisk)
        ),
    );
}

/// Samples the connections brisk holds once a second while `window` runs; the
/// samples. Reading the socket table costs milliseconds of kernel time with 500
/// connections open, so it is rare and off the async workers: the probes' latency
/// is what the window measures.
async fn held_during<T>(
    brisk: &Brisk,
    window: impl std::future::Future<Output = T>,
) -> (T, Vec<usize>) {
    let (pid, port) = (brisk.pid(), brisk.port);
    let mut samples = Vec::new();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    tokio::pin!(window);
    loop {
        tokio::select! {
            out = &mut window => return (out, samples),
            _ = every.tick() => samples.push(
                blocking(move || sockets::count_on_port(pid, port, sockets::ESTABLISHED)).await,
            ),
        }
    }
}

/// The slow connections stayed open through the measured window: the median
/// count brisk held is at least [`SLOW`] (the probes add at most 4; a reconnect
/// after the server's header timeout is a brief dip).
fn check_slow_connections_held(row: &mut Row, mut held: Vec<usize>) {
    held.sort_unstable();
    let median = held.get(held.len() / 2).copied().unwrap_or(0);
    row.note(format!(
        "connections held by the server during the window: min {}, median {median}, max {} ({} samples)",
        held.first().copied().unwrap_or(0),
        held.last().copied().unwrap_or(0),
        held.len()
    ));
    row.check(
        median >= SLOW,
        format!("brisk held a median of {median} connections during the window, not the {SLOW} slow ones"),
    );
}

/// Per route, p99 during < 2 × the baseline's, and no non-2xx during.
fn check_probe_latency(row: &mut Row, baseline: &[Sample], during: &[Sample]) {
    for route in ["GET /health", "GET /api/catalog"] {
        let before = Stats::of(baseline.iter().filter(|s| s.route == route));
        let now = Stats::of(during.iter().filter(|s| s.route == route));
        row.note(format!("{route} p99 {} → {}", ms(before.p99), ms(now.p99)));
        row.check(
            now.p99 < before.p99 * 2,
            format!(
                "{route} p99 {} ≥ 2 × baseline {}",
                ms(now.p99),
                ms(before.p99)
            ),
        );
        row.check(
            now.non_2xx == 0,
            format!("{route}: {} non-2xx", now.non_2xx),
        );
    }
}

/// 10: 500 connections dribble headers a byte a second while another client
/// reads `/health` and the cached catalog.
pub async fn s10() -> Row {
    let env = Env::new(10).await;
    let mut row = Row::new(
        10,
        "slowloris",
        "4 clients on GET /health and GET /api/catalog, 5 s baseline then 8 s",
        "500 connections sending headers a byte a second (reconnecting)",
    );
    let brisk = Brisk::start(
        brisk_bin(),
        &env.dir,
        "brisk",
        &env.shared(),
        &high_limits(),
    );
    let probe = health_and_catalog(brisk.base.clone());
    let clock = Instant::now();
    let baseline = load::start(
        LoadSpec::new(4, Duration::from_secs(5)),
        clock,
        false,
        probe.clone(),
    )
    .finish()
    .await;
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    let connected = Arc::new(AtomicUsize::new(0));
    let attackers = start_slowloris(brisk.port, until, &connected);
    // The load starts once every slow connection is open, not after a fixed pause.
    check_slow_connections_open(&brisk, &mut row).await;
    let window = load::start(
        LoadSpec::new(4, Duration::from_secs(8)),
        clock,
        false,
        probe,
    )
    .finish();
    let (during, held) = held_during(&brisk, window).await;
    let mut closed = 0;
    for a in attackers {
        closed += a.await.unwrap_or(0);
    }
    row.stats = Stats::of(&during);
    row.note(format!(
        "slow connections made {}, closed by the server: {closed}",
        connected.load(Ordering::Relaxed)
    ));
    check_slow_connections_held(&mut row, held);
    check_probe_latency(&mut row, &baseline, &during);
    row.data = "n/a (reads only)".into();
    drop(brisk);
    row
}
