//! The connection budget: `brisk check-budget` and the start-up check.
//!
//! Each process holds `pool_size` client connections to PgBouncer, shared by
//! all its workers. PgBouncer runs in session mode here (see
//! deploy/pgbouncer.ini), so every client connection pins a server
//! connection: `pool_size × processes` must fit in PgBouncer's
//! `default_pool_size`, or requests queue inside PgBouncer until they time out.
//! PgBouncer's pool must in turn fit in what PostgreSQL accepts:
//! `max_connections − superuser_reserved_connections − db_reserve` (the
//! reserve keeps room for migrations, psql and monitoring). Over budget, the
//! server refuses to start and prints the arithmetic.

use crate::db::config::{DEFAULT_DIRECT_DATABASE_URL, DEFAULT_POOL_SIZE};
use crate::db::direct::{connect, split_database};
use diesel::prelude::*;
use diesel::sql_types::Text;
use std::fmt;

/// Processes of a deployment sharing PgBouncer, unless told otherwise.
pub const DEFAULT_PROCESSES: u32 = 1;
/// PgBouncer's `default_pool_size` as deploy/pgbouncer.ini sets it.
pub const DEFAULT_PGBOUNCER_POOL_SIZE: u32 = 60;
/// PostgreSQL connections kept free for migrations, psql and monitoring.
pub const DEFAULT_DB_RESERVE: u32 = 5;

/// The deployment whose budget is checked: what the operator declares; the
/// server's own limits are read from PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetConfig {
    /// Direct PostgreSQL URL (not through PgBouncer) the limits are read from.
    pub direct_database_url: String,
    /// Connections one process keeps.
    pub pool_size: u32,
    /// Processes of the deployment.
    pub processes: u32,
    /// PgBouncer's `default_pool_size`.
    pub pgbouncer_pool_size: u32,
    /// Connections kept free for tools.
    pub db_reserve: u32,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            direct_database_url: DEFAULT_DIRECT_DATABASE_URL.to_string(),
            pool_size: DEFAULT_POOL_SIZE,
            processes: DEFAULT_PROCESSES,
            pgbouncer_pool_size: DEFAULT_PGBOUNCER_POOL_SIZE,
            db_reserve: DEFAULT_DB_RESERVE,
        }
    }
}

/// The numbers the budget is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetInputs {
    /// Connections one process keeps (`--pool-size`).
    pub pool_size: u32,
    /// Processes of the deployment (`--processes`).
    pub processes: u32,
    /// PgBouncer's `default_pool_size` (`--pgbouncer-pool-size`).
    pub pgbouncer_pool_size: u32,
    /// PostgreSQL's `max_connections`.
    pub max_connections: u32,
    /// PostgreSQL's `superuser_reserved_connections`.
    pub superuser_reserved: u32,
    /// Connections kept free for tools (`--db-reserve`).
    pub db_reserve: u32,
}

/// A budget that fits, with its arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetReport {
    /// The numbers the report was computed from.
    pub inputs: BudgetInputs,
    /// `pool_size × processes`: client connections the deployment opens.
    pub need: u32,
    /// `max_connections − superuser_reserved − db_reserve`: what PgBouncer may use.
    pub postgres_available: u32,
}

impl BudgetInputs {
    /// `pool_size × processes`, saturating.
    pub fn need(&self) -> u32 {
        self.pool_size.saturating_mul(self.processes)
    }

    /// Connections PostgreSQL leaves for PgBouncer, saturating at 0.
    pub fn postgres_available(&self) -> u32 {
        self.max_connections
            .saturating_sub(self.superuser_reserved)
            .saturating_sub(self.db_reserve)
    }

    /// The pure budget rule: `Ok` with the report, or the refusal with its
    /// arithmetic on one line.
    pub fn evaluate(self) -> Result<BudgetReport, String> {
        let need = self.need();
        let available = self.postgres_available();
        if need > self.pgbouncer_pool_size {
            return Err(format!(
                "connection budget exceeded: pool_size {} × processes {} = {} > PgBouncer \
                 default_pool_size {} (lower --pool-size or --processes, or raise \
                 default_pool_size in deploy/pgbouncer.ini and --pgbouncer-pool-size)",
                self.pool_size, self.processes, need, self.pgbouncer_pool_size
            ));
        }
        if self.pgbouncer_pool_size > available {
            return Err(format!(
                "connection budget exceeded: PgBouncer default_pool_size {} > max_connections {} \
                 − superuser_reserved_connections {} − reserve {} = {} (raise max_connections \
                 or lower default_pool_size)",
                self.pgbouncer_pool_size,
                self.max_connections,
                self.superuser_reserved,
                self.db_reserve,
                available
            ));
        }
        Ok(BudgetReport {
            inputs: self,
            need,
            postgres_available: available,
        })
    }
}

impl fmt::Display for BudgetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inputs;
        write!(
            f,
            "connection budget ok: pool_size {} × processes {} = {} ≤ PgBouncer default_pool_size {} \
             ≤ max_connections {} − superuser_reserved_connections {} − reserve {} = {}",
            i.pool_size,
            i.processes,
            self.need,
            i.pgbouncer_pool_size,
            i.max_connections,
            i.superuser_reserved,
            i.db_reserve,
            self.postgres_available
        )
    }
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    max_connections: String,
    #[diesel(sql_type = Text)]
    superuser_reserved: String,
}

/// Reads `(max_connections, superuser_reserved_connections)` over a direct connection.
pub fn read_server_limits(direct_url: &str) -> Result<(u32, u32), String> {
    // The settings are server-wide: when the database itself does not exist
    // yet (before `migrate`), ask the maintenance database of the same server.
    let mut conn = match connect(direct_url) {
        Ok(conn) => conn,
        Err(first) => split_database(direct_url)
            .ok()
            .and_then(|(maintenance, _)| connect(&maintenance).ok())
            .ok_or_else(|| format!("budget check: {first}"))?,
    };
    let row: Setting = diesel::sql_query(
        "SELECT current_setting('max_connections') AS max_connections, \
                current_setting('superuser_reserved_connections') AS superuser_reserved",
    )
    .get_result(&mut conn)
    .map_err(|e| format!("budget check: cannot read max_connections: {e}"))?;
    let parse = |name: &str, raw: &str| {
        raw.parse::<u32>()
            .map_err(|_| format!("budget check: {name} is not a number: {raw:?}"))
    };
    Ok((
        parse("max_connections", &row.max_connections)?,
        parse("superuser_reserved_connections", &row.superuser_reserved)?,
    ))
}

/// Checks the budget of `db` against the PostgreSQL server of its direct URL.
pub fn check(db: &BudgetConfig) -> Result<BudgetReport, String> {
    let (max_connections, superuser_reserved) = read_server_limits(&db.direct_database_url)?;
    BudgetInputs {
        pool_size: db.pool_size,
        processes: db.processes,
        pgbouncer_pool_size: db.pgbouncer_pool_size,
        max_connections,
        superuser_reserved,
        db_reserve: db.db_reserve,
    }
    .evaluate()
}

/// `brisk check-budget`: prints the report, or returns the refusal (exit 1).
pub fn run_cli(config: &BudgetConfig) -> Result<(), String> {
    let report = check(config)?;
    println!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> BudgetInputs {
        BudgetInputs {
            pool_size: 16,
            processes: 2,
            pgbouncer_pool_size: 60,
            max_connections: 100,
            superuser_reserved: 3,
            db_reserve: 5,
        }
    }

    #[test]
    fn a_deployment_within_both_limits_passes() {
        let report = inputs().evaluate().unwrap();
        assert_eq!(report.need, 32);
        assert_eq!(report.postgres_available, 92);
        assert!(report.to_string().contains("16 × processes 2 = 32"));
    }

    #[test]
    fn more_client_connections_than_pgbouncer_pools_is_refused_with_the_arithmetic() {
        let err = BudgetInputs {
            processes: 8,
            ..inputs()
        }
        .evaluate()
        .unwrap_err();
        assert!(
            err.contains("pool_size 16 × processes 8 = 128 > PgBouncer default_pool_size 60"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn exactly_filling_pgbouncer_is_allowed() {
        let report = BudgetInputs {
            pool_size: 20,
            processes: 3,
            ..inputs()
        }
        .evaluate()
        .unwrap();
        assert_eq!(report.need, 60);
    }

    #[test]
    fn a_pgbouncer_pool_larger_than_postgres_allows_is_refused() {
        let err = BudgetInputs {
            pgbouncer_pool_size: 95,
            ..inputs()
        }
        .evaluate()
        .unwrap_err();
        assert!(
            err.contains(
                "default_pool_size 95 > max_connections 100 − superuser_reserved_connections 3 \
                 − reserve 5 = 92"
            ),
            "{err}"
        );
    }

    #[test]
    fn huge_values_saturate_instead_of_overflowing() {
        let err = BudgetInputs {
            pool_size: u32::MAX,
            processes: 2,
            ..inputs()
        }
        .evaluate()
        .unwrap_err();
        assert!(err.contains(&u32::MAX.to_string()));
        let tiny = BudgetInputs {
            max_connections: 2,
            ..inputs()
        };
        assert_eq!(tiny.postgres_available(), 0);
    }

    #[test]
    fn the_server_limits_are_read_from_postgres() {
        let (max, reserved) = read_server_limits(
            DEFAULT_DIRECT_DATABASE_URL
                .replace("/brisk", "/postgres")
                .as_str(),
        )
        .unwrap();
        assert!(max > reserved);
    }
}
