//! The pool's settings and the data layer's defaults, written once here. `config/`
//! turns the command line into a [`DbConfig`]; nothing under `db/` reads flags.

use std::time::Duration;

/// The server's database URL (through PgBouncer).
pub const DEFAULT_DATABASE_URL: &str = "postgres://root@127.0.0.1:6432/brisk";
/// The direct PostgreSQL URL (not through PgBouncer): migrations, seed, budget check.
pub const DEFAULT_DIRECT_DATABASE_URL: &str = "postgres://root@127.0.0.1:5432/brisk";
/// Connections one process keeps (shared by all its workers).
pub const DEFAULT_POOL_SIZE: u32 = 16;
/// How long a caller waits for a free connection before the pool gives up.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(2_000);
/// Age after which a connection is closed and replaced.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(1_800);
/// How long an idle connection is kept.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a statement may run before PostgreSQL cancels it.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_millis(10_000);

/// Settings of the process's connection pool ([`crate::db::pool::DbPool::build`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbConfig {
    /// PostgreSQL URL the pool connects to (through PgBouncer).
    pub url: String,
    /// Connections the pool keeps at most.
    pub pool_size: u32,
    /// How long [`crate::db::pool::DbPool::get`] waits for a free connection.
    pub acquire_timeout: Duration,
    /// Age after which a connection is replaced.
    pub max_lifetime: Duration,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// `statement_timeout` set on every new connection.
    pub statement_timeout: Duration,
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_DATABASE_URL.to_string(),
            pool_size: DEFAULT_POOL_SIZE,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        }
    }
}
