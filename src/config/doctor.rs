//! The flags of `brisk doctor`: where the deployment is, where its database,
//! PgBouncer and Redis are, and every threshold, each with its default.

use brisk_kit::db::budget::DEFAULT_DB_RESERVE;
use clap::Args;

/// `brisk doctor [flags]`.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// The API's front door (one process, or the proxy in front of several).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Each process's operations listener (`/metrics`); default: every process the
    /// deployment's registry in Redis lists as alive (`--redis-url`, `--redis-prefix`),
    /// else the front door.
    #[arg(long = "ops", value_name = "URL", num_args = 1..)]
    pub ops: Vec<String>,
    /// Direct PostgreSQL URL of the application's database (max_connections,
    /// pg_stat_statements).
    #[arg(long, env = "BRISK_DIRECT_DATABASE_URL", default_value = super::database::DEFAULT_DIRECT_URL)]
    pub database_url: String,
    /// PgBouncer's admin console (`SHOW CONFIG`, `SHOW CLIENTS`).
    #[arg(long, default_value = "postgres://root@127.0.0.1:6432/pgbouncer")]
    pub pgbouncer_admin_url: String,
    /// Redis (`PING` without a password, the process registry); with
    /// --redis-cluster, the cluster's seed nodes separated by commas.
    #[arg(long, env = "BRISK_REDIS_URL", default_value = brisk_kit::redis::DEFAULT_REDIS_URL)]
    pub redis_url: String,
    /// The URLs name a Redis Cluster's seed nodes.
    #[arg(long, env = "BRISK_REDIS_CLUSTER", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub redis_cluster: bool,
    /// The deployment's Redis key prefix (where its processes register).
    #[arg(long, env = "BRISK_REDIS_PREFIX", default_value = brisk_kit::redis::DEFAULT_PREFIX)]
    pub redis_prefix: String,
    /// The login route of the login probe.
    #[arg(long, default_value = "/api/login")]
    pub login_path: String,
    /// Failed logins the login probe sends at most before giving up on a 429.
    #[arg(long, default_value_t = 10)]
    pub login_probes: u32,
    /// Mean statements per request above which a route is an N+1 suspect.
    #[arg(long, default_value_t = 10.0)]
    pub n_plus_one: f64,
    /// Mean statements per request a list route may run (eager loading).
    #[arg(long, default_value_t = 3.0)]
    pub list_statements: f64,
    /// p95 response size (bytes) above which a route should be paged.
    #[arg(long, default_value_t = 256 * 1024)]
    pub payload_bytes: u64,
    /// Routes the API defines whole (streamed exports, whole collections), exempt from
    /// the payload row; comma-separated paths.
    #[arg(long, default_value = "/api/catalog,/api/export.csv")]
    pub whole_routes: String,
    /// Statements of `pg_stat_statements` (top by total time) the indexes row plans.
    #[arg(long, default_value_t = 20)]
    pub top_statements: usize,
    /// Rows above which a table's filtering sequential scan is an index suspect.
    #[arg(long, default_value_t = 10_000)]
    pub seq_scan_rows: u64,
    /// Share of a table's rows a filtering sequential scan may keep before it is
    /// named: a filter that keeps more reads most of the table anyway, and an index
    /// would not help.
    #[arg(long, default_value_t = 0.1)]
    pub seq_scan_share: f64,
    /// An API key the doctor may use to probe a cached route's ETag and 304 (the
    /// "HTTP caching" row; `make doctor` passes `make run`'s seeded demo key).
    #[arg(long, env = "BRISK_DOCTOR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Cached GET routes the HTTP caching probe asks (with `--api-key`), comma-separated.
    #[arg(long, default_value = "/api/catalog")]
    pub cached_paths: String,
    /// PostgreSQL connections kept for clients other than PgBouncer.
    #[arg(long, default_value_t = DEFAULT_DB_RESERVE)]
    pub db_reserve: u32,
    /// Seconds between two scrapes of `/metrics`: the cost row then prices only the
    /// requests of that window (no start-up, no idle time; run it during the load);
    /// 0: everything since the processes started.
    #[arg(long, default_value_t = 0)]
    pub window: u64,
    /// The request rate the cost row sizes the deployment for (processes, connections).
    #[arg(long, default_value_t = 1000.0)]
    pub target_rps: f64,
    /// Send no probes (no failed logins, no spoofed header).
    #[arg(long)]
    pub no_probes: bool,
    /// One JSON array instead of text lines.
    #[arg(long)]
    pub json: bool,
}

impl DoctorArgs {
    /// The Redis handle of the deployment (its registry).
    pub fn redis_config(&self) -> brisk_kit::redis::RedisConfig {
        brisk_kit::redis::RedisConfig {
            url: self.redis_url.clone(),
            cluster: self.redis_cluster,
            prefix: self.redis_prefix.clone(),
            ..Default::default()
        }
    }

    /// The first Redis URL (a cluster's first seed node).
    pub fn first_redis_url(&self) -> &str {
        self.redis_url.split(',').next().unwrap_or("").trim()
    }
}
