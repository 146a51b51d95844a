//! The scenarios of issue 10, one `#[ignore]`d test each (run by `make faults`),
//! and what they share: a scratch database with the ids the load uses, the
//! flags that lift rate limits out of the way, and reading `/metrics`.

mod database;
mod orders;
mod process;
mod redis;
mod slowloris;

use crate::harness::db::{self, BOUNCER};
use crate::harness::load::{self, MakeRequest};
use crate::harness::report::{run, scenario_dir};
use crate::harness::{blocking, key, TENANT};
use brisk_testkit::brisk::{Brisk, Target};
use brisk_testkit::prometheus;
use std::path::PathBuf;

/// A scenario's scratch database, directory and the tenant's ids; dropping it
/// drops the database.
pub struct Env {
    /// Logs of the scenario's processes.
    pub dir: PathBuf,
    /// The scratch database.
    pub db: String,
    /// Tenant 2's product ids.
    pub products: Vec<i64>,
    /// Tenant 2's customer ids.
    pub customers: Vec<i64>,
    /// The Redis key prefix of this scenario.
    pub prefix: String,
}

impl Env {
    /// A fresh database cloned from the run's template.
    pub async fn new(id: u8) -> Env {
        Env::with(id, blocking(db::scratch).await).await
    }

    /// A fresh database seeded at `scale`.
    pub async fn at_scale(id: u8, scale: &'static str) -> Env {
        Env::with(id, blocking(move || db::scratch_at(scale)).await).await
    }

    async fn with(id: u8, name: String) -> Env {
        let n = name.clone();
        let (products, customers) = blocking(move || {
            (
                db::ids(&n, "products", TENANT),
                db::ids(&n, "customers", TENANT),
            )
        })
        .await;
        Env {
            dir: scenario_dir(id),
            db: name,
            products,
            customers,
            prefix: format!("faults-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The shared PgBouncer and Redis (for scenarios that break neither).
    pub fn shared(&self) -> Target {
        self.target(
            format!("{BOUNCER}/{}", self.db),
            "redis://127.0.0.1:6379".into(),
        )
    }

    /// Through `database_url` and `redis_url`.
    pub fn target(&self, database_url: String, redis_url: String) -> Target {
        Target {
            database_url,
            direct_url: format!("{}/{}", db::DIRECT, self.db),
            redis_url,
            redis_prefix: self.prefix.clone(),
        }
    }

    /// The standard mix (`load::w6_mix`) against `brisk` as the tenant, one write in
    /// `write_every` (0: reads only).
    pub fn w6_mix(&self, brisk: &Brisk, write_every: u64) -> MakeRequest {
        load::w6_mix(
            brisk.base.clone(),
            key(TENANT),
            self.products.clone(),
            self.customers.clone(),
            write_every,
        )
    }

    /// Runs `sql` on the scratch database.
    pub async fn sql(&self, sql: &str) -> String {
        let (db, sql) = (self.db.clone(), sql.to_string());
        blocking(move || db::psql(&db, &sql)).await
    }

    /// One integer from `sql` on the scratch database.
    pub async fn int(&self, sql: &str) -> i64 {
        let (db, sql) = (self.db.clone(), sql.to_string());
        blocking(move || db::int(&db, &sql)).await
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        db::drop_db(&self.db);
    }
}

/// Flags that raise the plan limits far above any scenario's load (the limiter
/// still runs: its Redis calls are part of every request).
pub fn high_limits() -> Vec<String> {
    ["free", "pro", "enterprise"]
        .iter()
        .flat_map(|plan| [format!("--rate-limit-{plan}"), "1000000 per minute".into()])
        .collect()
}

/// `flags` as owned strings.
pub fn flags(flags: &[&str]) -> Vec<String> {
    flags.iter().map(|s| s.to_string()).collect()
}

/// One sample of `/metrics` (`name{labels}` exactly as exposed), if present.
pub async fn metric(client: &reqwest::Client, base: &str, series: &str) -> Option<f64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    prometheus::sample(&text, series)
}

/// A plain client (no proxy, 30 s timeout).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("build a client")
}

macro_rules! scenario {
    ($test:ident, $id:expr, $name:expr, $body:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        #[ignore = "fault suite: run by `make faults`"]
        async fn $test() {
            run($id, $name, $body()).await;
        }
    };
}

scenario!(
    s01_redis_down_at_start,
    1,
    "Redis down at start",
    redis::s01
);
scenario!(
    s02_redis_killed_mid_load,
    2,
    "Redis SIGKILL mid-load",
    redis::s02
);
scenario!(s03_redis_hung, 3, "Redis hung (SIGSTOP)", redis::s03);
scenario!(
    s04_pgbouncer_sigterm_under_writes,
    4,
    "PgBouncer SIGTERM",
    database::s04
);
scenario!(
    s05_backends_terminated_under_writes,
    5,
    "backends terminated",
    database::s05
);
scenario!(s06_statement_timeout, 6, "slow database", database::s06);
scenario!(s07_pool_exhausted, 7, "pool exhausted", database::s07);
scenario!(
    s08_clients_vanish_mid_transaction,
    8,
    "clients vanish mid-order",
    orders::s08
);
scenario!(
    s09_export_clients_reset,
    9,
    "export clients reset",
    process::s09
);
scenario!(s10_slowloris, 10, "slowloris", slowloris::s10);
scenario!(
    s11_sigterm_under_load,
    11,
    "SIGTERM under load",
    process::s11
);
scenario!(
    s12_idempotent_retries,
    12,
    "Idempotency-Key retries",
    orders::s12
);
scenario!(s13_oversell, 13, "oversell race", orders::s13);
scenario!(
    s14_export_a_million_orders,
    14,
    "export of 1,000,000 orders",
    process::s14
);
scenario!(
    s15_background_loop_panics,
    15,
    "background loop panic",
    process::s15
);
