//! Scratch databases (the shared template of `brisk_testkit::template`, prepared
//! by the binary itself: `brisk migrate`, `brisk seed`) and the scenarios' SQL checks,
//! through psql on the direct PostgreSQL URL.

use super::brisk_bin;
use brisk_testkit::template::{self, Template};
use std::process::Command;

/// The shared PostgreSQL, direct.
pub const DIRECT: &str = "postgres://root@127.0.0.1:5432";
/// The shared PgBouncer.
pub const BOUNCER: &str = "postgres://root@127.0.0.1:6432";
/// Scale of the scenarios' data set: 20 customers, 20 products, 1,000 orders per tenant.
pub const SCALE: &str = "0.02";

/// The standard data set at [`SCALE`], built once per run by the binary under test.
static TEMPLATE: Template = Template::new(DIRECT, |url| prepare(url, SCALE));

/// Runs `sql` on database `db` with psql; the unaligned, tuples-only output.
pub fn psql(db: &str, sql: &str) -> String {
    template::psql(&format!("{DIRECT}/{db}"), sql)
}

/// Like [`psql`], the error text instead of a panic.
pub fn try_psql(db: &str, sql: &str) -> Result<String, String> {
    template::try_psql(&format!("{DIRECT}/{db}"), sql)
}

/// One integer from `sql`.
pub fn int(db: &str, sql: &str) -> i64 {
    let text = psql(db, sql);
    text.parse()
        .unwrap_or_else(|_| panic!("not an integer from {sql}: {text:?}"))
}

/// A column of integers from `sql`.
pub fn ints(db: &str, sql: &str) -> Vec<i64> {
    psql(db, sql)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.parse().expect("an integer row"))
        .collect()
}

fn brisk(args: &[&str]) {
    let out = Command::new(brisk_bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run brisk");
    assert!(
        out.status.success(),
        "brisk {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates (if missing), migrates and seeds `db` at `scale` with the binary itself.
pub fn migrate_and_seed(db: &str, scale: &str) {
    prepare(&format!("{DIRECT}/{db}"), scale);
}

/// Migrates and seeds the database at `url` at `scale`.
fn prepare(url: &str, scale: &str) {
    brisk(&["migrate", "--direct-database-url", url]);
    brisk(&["seed", "--direct-database-url", url, "--scale", scale]);
}

/// Runs the binary's pending migrations on `db` (a database kept between runs).
pub fn migrate(db: &str) {
    brisk(&[
        "migrate",
        "--direct-database-url",
        &format!("{DIRECT}/{db}"),
    ]);
}

/// A fresh database with the standard data set at [`SCALE`]; returns its name.
pub fn scratch() -> String {
    TEMPLATE.fresh()
}

/// A fresh database seeded at `scale` (not from the template).
pub fn scratch_at(scale: &str) -> String {
    let name = template::scratch_name();
    migrate_and_seed(&name, scale);
    name
}

/// Drops a scratch database (its connections too).
pub fn drop_db(db: &str) {
    template::drop_database(DIRECT, db);
}

/// Orders whose items, total or existence disagree, in orders with id > `after`:
/// an order without items, or whose total is not the sum of its items.
pub fn half_written_orders(db: &str, after: i64) -> i64 {
    int(
        db,
        &format!(
            "SELECT count(*) FROM orders o WHERE o.id > {after} AND (
               NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)
               OR o.total_cents <> (SELECT sum(i.quantity * i.unit_price_cents)
                                      FROM order_items i WHERE i.order_id = o.id))"
        ),
    )
}

/// Products whose stock is negative, or whose stock drop since `before` (the
/// `(id, stock)` snapshot) differs from the units ordered in orders with id > `after`.
pub fn stock_mismatches(db: &str, before: &[(i64, i64)], after: i64) -> Vec<String> {
    let mut out = Vec::new();
    for &(id, stock_before) in before {
        let row = psql(
            db,
            &format!(
                "SELECT p.stock, coalesce((SELECT sum(i.quantity) FROM order_items i
                   JOIN orders o ON o.id = i.order_id
                  WHERE i.product_id = p.id AND o.id > {after}), 0)
                 FROM products p WHERE p.id = {id}"
            ),
        );
        let mut parts = row.split('|').map(|v| v.parse::<i64>().unwrap_or(i64::MIN));
        let (stock, sold) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if stock < 0 || stock_before - sold != stock {
            out.push(format!(
                "product {id}: stock {stock_before} → {stock}, {sold} ordered"
            ));
        }
    }
    out
}

/// `(id, stock)` of the tenant's products.
pub fn stock_snapshot(db: &str, tenant: i64) -> Vec<(i64, i64)> {
    psql(
        db,
        &format!("SELECT id, stock FROM products WHERE tenant_id = {tenant} ORDER BY id"),
    )
    .lines()
    .filter_map(|l| {
        let (a, b) = l.split_once('|')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    })
    .collect()
}

/// The highest order id.
pub fn max_order_id(db: &str) -> i64 {
    int(db, "SELECT coalesce(max(id), 0) FROM orders")
}

/// Sessions on `db` other than psql's own in state `state` (e.g. `idle in transaction%`).
pub fn sessions_in_state(db: &str, state: &str) -> i64 {
    int(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'
               AND pid <> pg_backend_pid() AND state LIKE '{state}'
               AND application_name <> 'faults-lock'"
        ),
    )
}

/// Backends on `db` waiting on a lock.
pub fn lock_waiters(db: &str) -> Vec<i64> {
    ints(
        "postgres",
        &format!(
            "SELECT pid FROM pg_stat_activity WHERE datname = '{db}'
               AND wait_event_type = 'Lock' ORDER BY pid"
        ),
    )
}

/// Terminates every backend on `db` except psql's own; how many.
pub fn terminate_backends(db: &str) -> i64 {
    int(
        "postgres",
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE datname = '{db}' AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ),
    )
}

/// Ids of the tenant's customers and products.
pub fn ids(db: &str, table: &str, tenant: i64) -> Vec<i64> {
    ints(
        db,
        &format!("SELECT id FROM {table} WHERE tenant_id = {tenant} ORDER BY id"),
    )
}

/// A session that holds a row lock until released (the "slow database" of the
/// scenarios): `SELECT … FOR UPDATE` in an open transaction on a direct connection.
pub struct RowLock {
    child: std::process::Child,
}

impl RowLock {
    /// Locks product `id` of `db`; returns once the lock is held.
    pub fn product(db: &str, id: i64) -> RowLock {
        use std::io::Write;
        let mut child = Command::new("psql")
            .arg(format!("{DIRECT}/{db}"))
            .args(["-XAtq", "-v", "ON_ERROR_STOP=1"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start psql for the lock");
        let stdin = child.stdin.as_mut().expect("psql stdin");
        writeln!(
            stdin,
            "SET application_name = 'faults-lock'; BEGIN; \
             SELECT id FROM products WHERE id = {id} FOR UPDATE;"
        )
        .expect("send the lock");
        stdin.flush().expect("flush the lock");
        let held = brisk_testkit::wait::poll_until(std::time::Duration::from_secs(10), || {
            int(
                "postgres",
                &format!(
                    "SELECT count(*) FROM pg_stat_activity
                      WHERE application_name = 'faults-lock' AND datname = '{db}'
                        AND state = 'idle in transaction'"
                ),
            ) > 0
        });
        assert!(held, "the test's row lock was not taken");
        RowLock { child }
    }

    /// Commits the test's transaction (nothing written) and ends the session.
    pub fn release(mut self) {
        use std::io::Write;
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = writeln!(stdin, "COMMIT;");
        }
        let _ = self.child.wait();
    }
}

impl Drop for RowLock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
