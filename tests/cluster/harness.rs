//! The cluster under test: a fresh database (cloned from a template the binary itself
//! migrates and seeds), N `brisk serve` processes on fixed free ports (a restarted
//! process binds the same ones) and an nginx rendered from `deploy/nginx.conf`, with
//! its own pid, logs and temporary files in the test's directory. Everything is
//! stopped when the [`Cluster`] is dropped, the processes `make reload` restarted
//! included.

use brisk_testkit::brisk::{Brisk, Target};
use brisk_testkit::nginx::Nginx;
use brisk_testkit::process::free_port;
use brisk_testkit::template::{self, Template};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

// The faults suite's load generator: one implementation for both suites.
#[allow(dead_code)]
#[path = "../faults/harness/load.rs"]
pub mod load;

/// The shared PostgreSQL, direct.
pub const DIRECT: &str = "postgres://root@127.0.0.1:5432";
/// The shared PgBouncer.
pub const BOUNCER: &str = "postgres://root@127.0.0.1:6432";
/// How long a process, nginx or a poll may take.
pub const WITHIN: Duration = Duration::from_secs(60);

/// The standard data set at scale 0.02 (20 products per tenant), built by the binary.
static TEMPLATE: Template = Template::new(DIRECT, |url| {
    brisk(&["migrate", "--direct-database-url", url]);
    brisk(&["seed", "--direct-database-url", url, "--scale", "0.02"]);
});

/// The binary under test.
pub fn brisk_bin() -> &'static str {
    env!("CARGO_BIN_EXE_brisk")
}

/// The repository's root (deploy/, scripts/).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn brisk(args: &[&str]) {
    let out = Command::new(brisk_bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run brisk");
    assert!(out.status.success(), "brisk {args:?}: {out:?}");
}

/// Set to a Redis Cluster's seed URLs (`scripts/redis-cluster.sh seeds`), the brisk
/// processes run on that cluster (`--redis-cluster`) instead of the one Redis
/// (`make test-cluster REDIS=cluster`).
pub const REDIS_CLUSTER_ENV: &str = "BRISK_TEST_REDIS_CLUSTER";

/// The Redis Cluster's seed URLs when the suite runs on one.
pub fn redis_cluster_seeds() -> Option<String> {
    std::env::var(REDIS_CLUSTER_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// The seeded API key of tenant `n` (tenant 1: plan free, 2 and 3: pro).
pub fn key(n: i64) -> String {
    format!("demo-key-{n}")
}

/// One `brisk serve` of the cluster.
pub struct Member {
    /// The process as started by the test.
    pub brisk: Brisk,
    /// Its operations port (`--admin-bind`).
    pub admin: u16,
}

impl Member {
    /// `http://127.0.0.1:PORT` of its API listener.
    pub fn base(&self) -> &str {
        &self.brisk.base
    }

    /// Its `/metrics` text (from the operations listener).
    pub async fn metrics(&self) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.admin);
        let resp = reqwest::get(url).await.expect("scrape /metrics");
        resp.text().await.expect("read /metrics")
    }

    /// API requests it has answered on any route since it started; 0 when none yet.
    pub async fn requests(&self) -> f64 {
        let text = self.metrics().await;
        brisk_testkit::prometheus::sum(&text, "brisk_http_requests_total", "").unwrap_or(0.0)
    }

    /// API requests it has answered on `route` (any status); 0 when none yet.
    pub async fn answered(&self, route: &str) -> f64 {
        let text = self.metrics().await;
        let label = format!("route=\"{route}\"");
        brisk_testkit::prometheus::sum(&text, "brisk_http_requests_total", &label).unwrap_or(0.0)
    }
}

/// N brisk processes behind nginx on a fresh database.
pub struct Cluster {
    /// The processes, in upstream order.
    pub members: Vec<Member>,
    /// nginx's public base URL.
    pub public: String,
    /// The scratch database's name.
    pub db: String,
    /// The test's directory: logs, pid files (for scripts/cluster.sh), nginx's prefix.
    pub dir: PathBuf,
    /// Stopped first when the cluster is dropped.
    nginx: Option<Nginx>,
}

impl Cluster {
    /// `n` processes of one worker each (`--processes n --trusted-hops 1`, as `make
    /// cluster` starts them, `extra` flags added) behind nginx.
    pub fn start(n: usize, extra: &[&str]) -> Cluster {
        let db = TEMPLATE.fresh();
        let dir = std::env::temp_dir().join(format!("cluster-{db}"));
        std::fs::create_dir_all(&dir).expect("create the test directory");
        let seeds = redis_cluster_seeds();
        let target = Target {
            database_url: format!("{BOUNCER}/{db}"),
            direct_url: format!("{DIRECT}/{db}"),
            redis_url: seeds
                .clone()
                .unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
            redis_prefix: format!("cluster-{db}:"),
        };
        let mut extra = extra.to_vec();
        if seeds.is_some() {
            extra.push("--redis-cluster");
        }
        let members: Vec<Member> = (1..=n)
            .map(|i| start_member(&dir, i, n, &target, &extra))
            .collect();
        let ports: Vec<u16> = members.iter().map(|m| m.brisk.port).collect();
        let template = std::fs::read_to_string(root().join("deploy/nginx.conf"))
            .expect("read deploy/nginx.conf");
        let nginx = Nginx::start(&dir.join("nginx"), &template, &ports);
        Cluster {
            members,
            public: nginx.base(),
            db,
            dir,
            nginx: Some(nginx),
        }
    }

    /// nginx's URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public)
    }

    /// `scripts/cluster.sh reload` pointed at this cluster (its pid files, its nginx).
    pub fn reload_command(&self) -> Command {
        let mut cmd = Command::new(root().join("scripts/cluster.sh"));
        cmd.arg("reload")
            .env("CLUSTER_RUN", &self.dir)
            .env("CLUSTER_PUBLIC", self.public.trim_start_matches("http://"));
        cmd
    }

    /// The pid in process `i`'s pid file (1-based; changed by a reload).
    pub fn pid(&self, i: usize) -> u32 {
        read_pid(&self.dir.join(format!("brisk-{i}.pid"))).expect("a pid file")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // nginx first (SIGTERM: its master stops its workers), then the processes.
        drop(self.nginx.take());
        // Processes a reload started are not this test's children.
        for (i, member) in self.members.iter().enumerate() {
            let pid = read_pid(&self.dir.join(format!("brisk-{}.pid", i + 1)));
            if let Some(pid) = pid.filter(|&p| p != member.brisk.pid() && p != 0) {
                kill(pid, "KILL");
            }
        }
        self.members.clear();
        template::drop_database(DIRECT, &self.db);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `sig` to `pid`, which may be gone already (a drop must not panic).
fn kill(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status();
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Process `i` of `n` on fixed free ports, its pid in `dir/brisk-i.pid` (where
/// scripts/cluster.sh finds it) and its log in `dir/brisk-i.log`.
fn start_member(dir: &Path, i: usize, n: usize, target: &Target, extra: &[&str]) -> Member {
    let (port, admin) = (free_port(), free_port());
    let mut flags: Vec<String> = vec![
        "--bind".into(),
        format!("127.0.0.1:{port}"),
        "--admin-bind".into(),
        format!("127.0.0.1:{admin}"),
        "--workers".into(),
        "1".into(),
        "--processes".into(),
        n.to_string(),
        "--trusted-hops".into(),
        "1".into(),
        "--shutdown-timeout-secs".into(),
        "10".into(),
    ];
    flags.extend(extra.iter().map(|s| s.to_string()));
    let brisk = Brisk::start(brisk_bin(), dir, &format!("brisk-{i}"), target, &flags);
    std::fs::write(dir.join(format!("brisk-{i}.pid")), brisk.pid().to_string())
        .expect("write a pid file");
    Member { brisk, admin }
}

/// A client for one-off requests (no proxy from the environment).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build a client")
}

/// The W6 mix of tenant 2 (its products and customers 21..=40 at scale 0.02; one
/// write in 10: price PUTs and orders) through nginx: the load of the tests that
/// take processes or Redis nodes away under traffic.
pub fn w6_mix(cluster: &Cluster) -> load::MakeRequest {
    let products = (21..=40).collect();
    let customers = (21..=40).collect();
    load::w6_mix(cluster.public.clone(), key(2), products, customers, 10)
}

/// Failed samples (5xx, connection error, timeout), described.
pub fn failures(samples: &[load::Sample]) -> Vec<String> {
    samples
        .iter()
        .filter(|s| s.failed())
        .map(|s| format!("{} {} at {:?}", s.route, s.status, s.start))
        .collect()
}

/// Runs a blocking closure (process control, psql) off the async workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("a blocking helper panicked")
}
