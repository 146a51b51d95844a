//! Database pool and connection-budget settings.
//!
//! Environment: `BRISK_DATABASE_URL` (through PgBouncer), `BRISK_DIRECT_DATABASE_URL`,
//! `BRISK_POOL_SIZE`, `BRISK_POOL_ACQUIRE_TIMEOUT_MS`, `BRISK_POOL_MAX_LIFETIME_SECS`,
//! `BRISK_POOL_IDLE_TIMEOUT_SECS`, `BRISK_PROCESSES`, `BRISK_PGBOUNCER_POOL_SIZE`,
//! `BRISK_DB_RESERVE`, `BRISK_DB_STATEMENT_TIMEOUT_MS`, `BRISK_SKIP_BUDGET_CHECK`.

use crate::db::seed::{SeedConfig, SeedOptions};
use brisk_kit::db::budget::{
    BudgetConfig, DEFAULT_DB_RESERVE, DEFAULT_PGBOUNCER_POOL_SIZE, DEFAULT_PROCESSES,
};
use brisk_kit::db::config::{
    DbConfig, DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_LIFETIME,
    DEFAULT_POOL_SIZE, DEFAULT_STATEMENT_TIMEOUT,
};
use clap::Args;
use std::time::Duration;

/// The server's database URL unless told otherwise (the data layer's default).
pub const DEFAULT_URL: &str = brisk_kit::db::config::DEFAULT_DATABASE_URL;
/// The direct URL unless told otherwise (the data layer's default).
pub const DEFAULT_DIRECT_URL: &str = brisk_kit::db::config::DEFAULT_DIRECT_DATABASE_URL;

/// The database flags of `brisk serve` (pool and connection budget).
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL the server uses (through PgBouncer).
    #[arg(long, env = "BRISK_DATABASE_URL", default_value = DEFAULT_URL, value_parser = parse_pg_url)]
    pub database_url: String,
    /// Direct PostgreSQL URL (not through PgBouncer), used to read max_connections.
    #[arg(long, env = "BRISK_DIRECT_DATABASE_URL", default_value = DEFAULT_DIRECT_URL, value_parser = parse_pg_url)]
    pub direct_database_url: String,
    /// Database connections this process keeps (shared by all its workers).
    #[arg(long, env = "BRISK_POOL_SIZE", default_value_t = DEFAULT_POOL_SIZE, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pool_size: u32,
    /// Milliseconds a request waits for a free connection before answering 503.
    #[arg(long, env = "BRISK_POOL_ACQUIRE_TIMEOUT_MS", default_value_t = DEFAULT_ACQUIRE_TIMEOUT.as_millis() as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub pool_acquire_timeout_ms: u64,
    /// Seconds after which a connection is closed and replaced.
    #[arg(long, env = "BRISK_POOL_MAX_LIFETIME_SECS", default_value_t = DEFAULT_MAX_LIFETIME.as_secs())]
    pub pool_max_lifetime_secs: u64,
    /// Seconds an idle connection is kept.
    #[arg(long, env = "BRISK_POOL_IDLE_TIMEOUT_SECS", default_value_t = DEFAULT_IDLE_TIMEOUT.as_secs())]
    pub pool_idle_timeout_secs: u64,
    /// Processes of this deployment sharing PgBouncer (for the budget check).
    #[arg(long, env = "BRISK_PROCESSES", default_value_t = DEFAULT_PROCESSES, value_parser = clap::value_parser!(u32).range(1..))]
    pub processes: u32,
    /// PgBouncer's default_pool_size (server connections per database), from deploy/pgbouncer.ini.
    #[arg(long, env = "BRISK_PGBOUNCER_POOL_SIZE", default_value_t = DEFAULT_PGBOUNCER_POOL_SIZE)]
    pub pgbouncer_pool_size: u32,
    /// PostgreSQL connections kept free for migrations, psql and monitoring.
    #[arg(long, env = "BRISK_DB_RESERVE", default_value_t = DEFAULT_DB_RESERVE)]
    pub db_reserve: u32,
    /// Milliseconds a statement may run before PostgreSQL cancels it (the request answers 503).
    #[arg(long, env = "BRISK_DB_STATEMENT_TIMEOUT_MS", default_value_t = DEFAULT_STATEMENT_TIMEOUT.as_millis() as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub db_statement_timeout_ms: u64,
    /// Skip the start-up connection-budget check.
    #[arg(long, env = "BRISK_SKIP_BUDGET_CHECK")]
    pub skip_budget_check: bool,
}

impl DatabaseArgs {
    /// The pool's settings.
    pub fn pool_config(&self) -> DbConfig {
        DbConfig {
            url: self.database_url.clone(),
            pool_size: self.pool_size,
            acquire_timeout: Duration::from_millis(self.pool_acquire_timeout_ms),
            max_lifetime: Duration::from_secs(self.pool_max_lifetime_secs),
            idle_timeout: Duration::from_secs(self.pool_idle_timeout_secs),
            statement_timeout: Duration::from_millis(self.db_statement_timeout_ms),
        }
    }

    /// The deployment the connection-budget check verifies.
    pub fn budget_config(&self) -> BudgetConfig {
        BudgetConfig {
            direct_database_url: self.direct_database_url.clone(),
            pool_size: self.pool_size,
            processes: self.processes,
            pgbouncer_pool_size: self.pgbouncer_pool_size,
            db_reserve: self.db_reserve,
        }
    }
}

/// `brisk migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Direct PostgreSQL URL (not through PgBouncer) used for migrations.
    #[arg(long, env = "BRISK_DIRECT_DATABASE_URL", default_value = DEFAULT_DIRECT_URL, value_parser = parse_pg_url)]
    pub direct_database_url: String,
}

/// `brisk seed`.
#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Direct PostgreSQL URL (not through PgBouncer) used for the bulk load.
    #[arg(long, env = "BRISK_DIRECT_DATABASE_URL", default_value = DEFAULT_DIRECT_URL, value_parser = parse_pg_url)]
    pub direct_database_url: String,
    /// Scale factor S: 1,000×S customers and products, 50,000×S orders per tenant.
    #[arg(long, default_value_t = crate::db::seed::DEFAULT_SCALE, value_parser = parse_scale)]
    pub scale: f64,
    /// End of the 365-day order window (RFC 3339); default: the current UTC hour.
    #[arg(long)]
    pub anchor: Option<chrono::DateTime<chrono::Utc>>,
    /// Seed only when the database has no tenants (used by `make run`).
    #[arg(long)]
    pub if_empty: bool,
}

fn parse_scale(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 100.0 => Ok(s),
        _ => Err(format!("scale must be a number in (0, 100], got {raw:?}")),
    }
}

impl SeedArgs {
    /// What `brisk seed` does.
    pub fn seed_config(&self) -> SeedConfig {
        SeedConfig {
            direct_database_url: self.direct_database_url.clone(),
            options: SeedOptions {
                scale: self.scale,
                anchor: self.anchor,
            },
            if_empty: self.if_empty,
        }
    }
}

/// Accepts only `postgres://` / `postgresql://` URLs that parse.
pub fn parse_pg_url(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    match url.scheme() {
        "postgres" | "postgresql" => Ok(raw.to_string()),
        other => Err(format!("expected a postgres:// URL, got scheme {other:?}")),
    }
}
