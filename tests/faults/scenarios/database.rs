//! Database faults under writes: PgBouncer SIGTERM (4), backends terminated (5),
//! statements past `statement_timeout` (6), the pool exhausted (7).

use super::{client, flags, high_limits, metric, Env};
use crate::harness::db::{self, RowLock};
use crate::harness::load::{self, Kind, LoadSpec, Sample, Stats};
use crate::harness::report::{ms, Row};
use crate::harness::sockets;
use crate::harness::{blocking, brisk_bin, key, TENANT};
use brisk_testkit::brisk::Brisk;
use brisk_testkit::pgbouncer::PgBouncer;
use brisk_testkit::wait::wait_until;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The pool's acquire timeout the scenarios run with (brisk's default).
const ACQUIRE: Duration = Duration::from_millis(2000);
/// Slack for a loaded machine on top of a timeout.
const SLACK: Duration = Duration::from_millis(500);

/// Raises every stock of the tenant so orders never answer 409; the snapshot
/// and the highest order id before the load.
async fn prepare_orders(env: &Env) -> (Vec<(i64, i64)>, i64) {
    env.sql(&format!(
        "UPDATE products SET stock = 100000 WHERE tenant_id = {TENANT}"
    ))
    .await;
    let d = env.db.clone();
    blocking(move || (db::stock_snapshot(&d, TENANT), db::max_order_id(&d))).await
}

/// Half-written orders, stock mismatches and sessions idle in transaction; the
/// data column, with failed checks recorded on `row`.
async fn check_data(env: &Env, row: &mut Row, before: Vec<(i64, i64)>, after: i64) -> String {
    let d = env.db.clone();
    let (half, stock, idle, orders) = blocking(move || {
        (
            db::half_written_orders(&d, after),
            db::stock_mismatches(&d, &before, after),
            db::sessions_in_state(&d, "idle in transaction%"),
            db::max_order_id(&d) - after,
        )
    })
    .await;
    row.check(half == 0, format!("{half} half-written orders"));
    row.check(
        stock.is_empty(),
        format!("stock disagrees: {}", stock.join(", ")),
    );
    row.check(idle == 0, format!("{idle} sessions idle in transaction"));
    format!(
        "{orders} orders, {half} half-written, {} stock mismatches, {idle} idle in transaction",
        stock.len()
    )
}

/// Records the pass line of an outage on `[down, up]`: no failure before it,
/// each failure within the acquire timeout, none from `up + 2 s`, and no write
/// failed that started once the database was back.
fn outage_checks(row: &mut Row, samples: &[Sample], down: Duration, up: Duration) {
    let failed: Vec<&Sample> = samples.iter().filter(|s| s.failed()).collect();
    let early = failed.iter().filter(|s| s.end() < down).count();
    let late = failed
        .iter()
        .filter(|s| s.start >= up + Duration::from_secs(2))
        .count();
    let slow = failed
        .iter()
        .filter(|s| s.latency > ACQUIRE + SLACK)
        .count();
    let writes_after = failed
        .iter()
        .filter(|s| s.kind == Kind::Write && s.start >= up)
        .count();
    let reads_after = failed
        .iter()
        .filter(|s| s.kind == Kind::Read && s.start >= up)
        .count();
    row.note(format!(
        "{} failed: {early} before the fault, {late} from 2 s after recovery, {writes_after} writes and {reads_after} reads started after recovery",
        failed.len()
    ));
    row.check(early == 0, format!("{early} failures before the fault"));
    row.check(
        late == 0,
        format!("{late} failures 2 s or more after recovery"),
    );
    row.check(
        slow == 0,
        format!(
            "{slow} failures slower than the acquire timeout (+{})",
            ms(SLACK)
        ),
    );
    row.check(
        writes_after == 0,
        format!("{writes_after} writes failed that started after recovery (a dead pooled connection must be retried)"),
    );
}

/// Answered requests the window "from 2 s after recovery" must hold for its "no
/// failure" line to mean something (an empty window would pass it trivially).
const MIN_ANSWERED_AFTER_RECOVERY: usize = 100;
/// Answered writes started after recovery, for the same reason.
const MIN_WRITES_AFTER_RECOVERY: usize = 10;

/// The windows [`outage_checks`] judges are not empty: at least
/// [`MIN_ANSWERED_AFTER_RECOVERY`] requests started from `up + 2 s` were answered,
/// and at least [`MIN_WRITES_AFTER_RECOVERY`] writes started from `up`.
fn recovery_window_checks(row: &mut Row, samples: &[Sample], up: Duration) {
    let answered = |s: &&Sample| s.status != 0;
    let late = samples
        .iter()
        .filter(|s| s.start >= up + Duration::from_secs(2))
        .filter(answered)
        .count();
    let writes = samples
        .iter()
        .filter(|s| s.kind == Kind::Write && s.start >= up)
        .filter(answered)
        .count();
    row.note(format!(
        "after recovery: {late} answered from 2 s on, {writes} writes answered"
    ));
    row.check(
        late >= MIN_ANSWERED_AFTER_RECOVERY,
        format!(
            "only {late} answered requests started 2 s or more after recovery (want ≥ {MIN_ANSWERED_AFTER_RECOVERY}): the window is too short to judge"
        ),
    );
    row.check(
        writes >= MIN_WRITES_AFTER_RECOVERY,
        format!(
            "only {writes} answered writes started after recovery (want ≥ {MIN_WRITES_AFTER_RECOVERY})"
        ),
    );
}

/// 4: PgBouncer (private) SIGTERMed under writes at 5 s, back at 8 s.
pub async fn s04() -> Row {
    let env = Env::new(4).await;
    let mut row = Row::new(
        4,
        "PgBouncer SIGTERM",
        "W6 mix, 16 clients, 1 write in 3, 15 s",
        "private PgBouncer SIGTERM once 2,000 requests were answered, restarted once 16 more failed",
    );
    let (before, after) = prepare_orders(&env).await;
    let mut bouncer = PgBouncer::start(&env.dir, 20);
    let target = env.target(bouncer.url(&env.db), "redis://127.0.0.1:6379".into());
    let brisk = Brisk::start(brisk_bin(), &env.dir, "brisk", &target, &high_limits());
    let clock = Instant::now();
    let mix = env.w6_mix(&brisk, 3);
    let running = load::start(
        LoadSpec::new(16, Duration::from_secs(15)),
        clock,
        false,
        mix,
    );
    // The fault comes once the load has a baseline, not after a fixed pause.
    running.until_answered(2_000, Duration::from_secs(15)).await;
    let down = clock.elapsed();
    bouncer = blocking(move || {
        bouncer.terminate();
        bouncer
    })
    .await;
    // PgBouncer stays down until every client has met the outage once (16 more failed
    // requests: each waits out the 2 s acquire timeout), at most 10 s.
    running
        .until_failed(running.failed() + 16, Duration::from_secs(10))
        .await;
    bouncer = blocking(move || {
        bouncer.restart();
        bouncer
    })
    .await;
    let up = clock.elapsed();
    let samples = running.finish().await;
    row.stats = Stats::of(&samples);
    row.note(format!("down {}–{}", ms(down), ms(up)));
    outage_checks(&mut row, &samples, down, up);
    recovery_window_checks(&mut row, &samples, up);
    drop(brisk);
    row.data = check_data(&env, &mut row, before, after).await;
    drop(bouncer);
    row
}

/// 5: every backend of brisk's database terminated at 4 s and at 8 s under writes.
pub async fn s05() -> Row {
    let env = Env::new(5).await;
    let mut row = Row::new(
        5,
        "backends terminated",
        "W6 mix, 16 clients, 1 write in 3, 12 s",
        "pg_terminate_backend on every backend of the database at 4 s and 8 s",
    );
    let (before, after) = prepare_orders(&env).await;
    let brisk = Brisk::start(
        brisk_bin(),
        &env.dir,
        "brisk",
        &env.shared(),
        &high_limits(),
    );
    let clock = Instant::now();
    let mix = env.w6_mix(&brisk, 3);
    let running = load::start(
        LoadSpec::new(16, Duration::from_secs(12)),
        clock,
        false,
        mix,
    );
    let mut windows = Vec::new();
    for at in [4, 8] {
        tokio::time::sleep_until((clock + Duration::from_secs(at)).into()).await;
        let from = clock.elapsed();
        let d = env.db.clone();
        let n = blocking(move || db::terminate_backends(&d)).await;
        windows.push((from, clock.elapsed()));
        row.note(format!("{n} backends terminated at {}", ms(from)));
        // Without a termination the fault never happened and every line below holds.
        row.check(
            n >= 1,
            format!(
                "no backend terminated at {}: the fault did not happen",
                ms(from)
            ),
        );
    }
    let samples = running.finish().await;
    row.stats = Stats::of(&samples);
    // Allowed: requests in flight while a termination ran (their statement died).
    let outside: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.failed())
        .filter(|s| !windows.iter().any(|&(a, b)| s.start <= b && s.end() >= a))
        .collect();
    let writes = outside.iter().filter(|s| s.kind == Kind::Write).count();
    row.check(
        outside.is_empty(),
        format!(
            "{} failures of requests not in flight at a termination ({writes} writes, {} reads): a dead pooled connection must be retried",
            outside.len(),
            outside.len() - writes
        ),
    );
    let slow = samples
        .iter()
        .filter(|s| s.failed() && s.latency > ACQUIRE + SLACK)
        .count();
    row.check(
        slow == 0,
        format!("{slow} failures slower than the acquire timeout"),
    );
    drop(brisk);
    row.data = check_data(&env, &mut row, before, after).await;
    row
}

/// Local ports of `pid`'s TCP connections to 127.0.0.1:`remote` (from /proc).
fn connections_to(pid: u32, remote: u16) -> BTreeSet<u16> {
    sockets::sockets_of(pid)
        .into_iter()
        .filter(|s| s.remote == remote)
        .map(|s| s.local)
        .collect()
}

/// `n` concurrent PUTs of product `id`'s price.
async fn puts(brisk: &Brisk, id: i64, n: usize, price: i64, clock: Instant) -> Vec<Sample> {
    let http = client();
    futures_util::future::join_all((0..n).map(|_| {
        let req = http
            .put(brisk.url(&format!("/api/products/{id}")))
            .bearer_auth(key(TENANT))
            .json(&json!({"price_cents": price}));
        load::send(req, Kind::Write, "PUT /api/products/{id}", clock)
    }))
    .await
}

/// 6: writes held on a row lock past a 1 s `statement_timeout`.
pub async fn s06() -> Row {
    let env = Env::new(6).await;
    let mut row = Row::new(
        6,
        "slow database",
        "8 parallel PUT /api/products/{id} on a locked row (pool 8)",
        "row lock held by the test past --db-statement-timeout-ms 1000",
    );
    let (before, after) = prepare_orders(&env).await;
    let product = env.products[3];
    let mut extra = high_limits();
    extra.extend(flags(&[
        "--db-statement-timeout-ms",
        "1000",
        "--pool-size",
        "8",
    ]));
    let brisk = Brisk::start(brisk_bin(), &env.dir, "brisk", &env.shared(), &extra);
    let clock = Instant::now();
    // Open every pooled connection first, so the ones that time out are known.
    let _ = puts(&brisk, env.products[4], 8, 4000, clock).await;
    let open_before = connections_to(brisk.pid(), 6432);
    let d = env.db.clone();
    let lock = blocking(move || RowLock::product(&d, product)).await;
    let held = puts(&brisk, product, 8, 4242, clock).await;
    blocking(move || lock.release()).await;
    let timeout = Duration::from_millis(1000);
    let not_503 = held.iter().filter(|s| s.status != 503).count();
    let slow = held.iter().filter(|s| s.latency > timeout + SLACK).count();
    row.check(
        not_503 == 0,
        format!("{not_503} of 8 held writes did not answer 503"),
    );
    row.check(
        slow == 0,
        format!(
            "{slow} held writes took longer than the timeout + {}",
            ms(SLACK)
        ),
    );
    let after_fault = puts(&brisk, product, 8, 4343, clock).await;
    let ok = after_fault.iter().filter(|s| s.status == 200).count();
    let price = env
        .int(&format!(
            "SELECT price_cents FROM products WHERE id = {product}"
        ))
        .await;
    let open_after = connections_to(brisk.pid(), 6432);
    let dropped = open_before.difference(&open_after).count();
    row.note(format!(
        "pool connections {} before, {} after, {dropped} closed",
        open_before.len(),
        open_after.len()
    ));
    row.check(
        ok == 8,
        format!("{ok} of 8 writes after the release answered 200"),
    );
    row.check(
        price == 4343,
        format!("price {price} after the release, not 4343"),
    );
    row.check(
        !open_before.is_empty() && dropped == 0,
        format!("{dropped} pooled connections closed after a statement timeout (should be reused)"),
    );
    let mut all = held.clone();
    all.extend(after_fault);
    row.stats = Stats::of(&all);
    drop(brisk);
    row.data = check_data(&env, &mut row, before, after).await;
    row
}

/// Scenario 7's reads while the pool is held: once 4 PUTs wait on the lock (every
/// connection of the pool taken), 8 reads; then the lock is released at 4 s.
async fn reads_while_the_pool_is_held(
    env: &Env,
    brisk: &Brisk,
    lock: RowLock,
    clock: Instant,
) -> Vec<Sample> {
    let d = env.db.clone();
    let _ = wait_until(Duration::from_secs(5), || {
        let d = d.clone();
        async move { blocking(move || db::lock_waiters(&d).len()).await >= 4 }
    })
    .await;
    let http = client();
    let reads = futures_util::future::join_all((0..8).map(|i| {
        let req = http
            .get(brisk.url(&format!("/api/orders?per_page=5&page={}", i + 1)))
            .bearer_auth(key(TENANT));
        load::send(req, Kind::Read, "GET /api/orders", clock)
    }))
    .await;
    let release_at = clock + Duration::from_secs(4);
    tokio::time::sleep_until(release_at.into()).await;
    blocking(move || lock.release()).await;
    reads
}

/// The 4 PUTs holding the pool's connections complete 200; every other request
/// (the other PUTs, the reads meanwhile) is 503 + Retry-After within the acquire
/// timeout.
fn check_held_writes_and_refusals(row: &mut Row, held: &[Sample], reads: &[Sample]) {
    let (rest, blocked): (Vec<&Sample>, Vec<&Sample>) = held
        .iter()
        .chain(reads.iter())
        .partition(|s| s.status != 200 || s.kind == Kind::Read);
    let shed = rest
        .iter()
        .filter(|s| s.status == 503 && s.retry_after)
        .count();
    let slow = rest.iter().filter(|s| s.latency > ACQUIRE + SLACK).count();
    row.note(format!(
        "{} held writes completed after the release, {shed} of {} others 503 + Retry-After",
        blocked.len(),
        rest.len()
    ));
    row.check(
        blocked.len() == 4,
        format!(
            "{} writes completed, want the 4 holding connections",
            blocked.len()
        ),
    );
    row.check(
        shed == rest.len(),
        format!(
            "{} of {} others not 503 + Retry-After",
            rest.len() - shed,
            rest.len()
        ),
    );
    row.check(
        slow == 0,
        format!(
            "{slow} refusals slower than the acquire timeout + {}",
            ms(SLACK)
        ),
    );
}

/// 20 reads after the release are all 200, and the pool has nothing checked out
/// within 5 s; the reads.
async fn check_pool_recovers(row: &mut Row, brisk: &Brisk, clock: Instant) -> Vec<Sample> {
    let http = client();
    let recovery = futures_util::future::join_all((0..20).map(|_| {
        let req = http
            .get(brisk.url("/api/orders?per_page=5"))
            .bearer_auth(key(TENANT));
        load::send(req, Kind::Read, "GET /api/orders", clock)
    }))
    .await;
    let bad = recovery.iter().filter(|s| s.status != 200).count();
    row.check(
        bad == 0,
        format!("{bad} of 20 reads after the release failed"),
    );
    let idle = wait_until(Duration::from_secs(5), || async {
        metric(
            &http,
            &brisk.base,
            "brisk_pool_in_use_connections{pool=\"db\"}",
        )
        .await
            == Some(0.0)
    })
    .await;
    row.check(idle.is_some(), "pool not idle 5 s after the release");
    recovery
}

/// 7: 2 × pool-size writes wait on a row lock the test holds; other requests
/// meanwhile get 503 + Retry-After within the acquire timeout.
pub async fn s07() -> Row {
    let env = Env::new(7).await;
    let mut row = Row::new(
        7,
        "pool exhausted",
        "8 PUTs on a locked row (pool 4), 8 reads meanwhile, 20 reads after",
        "row lock held by the test for 4 s",
    );
    let (before, after) = prepare_orders(&env).await;
    let product = env.products[5];
    let mut extra = high_limits();
    extra.extend(flags(&["--pool-size", "4"]));
    let brisk = Brisk::start(brisk_bin(), &env.dir, "brisk", &env.shared(), &extra);
    let d = env.db.clone();
    let lock = blocking(move || RowLock::product(&d, product)).await;
    let clock = Instant::now();
    let (held, reads) = tokio::join!(
        puts(&brisk, product, 8, 4444, clock),
        reads_while_the_pool_is_held(&env, &brisk, lock, clock)
    );
    check_held_writes_and_refusals(&mut row, &held, &reads);
    let recovery = check_pool_recovers(&mut row, &brisk, clock).await;
    let mut all = held;
    all.extend(reads);
    all.extend(recovery);
    row.stats = Stats::of(&all);
    drop(brisk);
    row.data = check_data(&env, &mut row, before, after).await;
    row
}
