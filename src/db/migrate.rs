//! `brisk migrate`: creates the database named in the direct URL when it is
//! missing, then runs the migrations embedded in the binary from `migrations/`.
//!
//! Both steps use a direct, synchronous connection to PostgreSQL (never
//! PgBouncer): `CREATE DATABASE` cannot run inside a pooled session, and the
//! migrations run once, before the server starts.

use brisk_kit::db::direct::{connect, create_database_if_missing, split_database};
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// The migrations of `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Advisory-lock key held while migrating, so concurrent `migrate` runs (test
/// binaries starting together, several processes deploying) apply each
/// migration once.
const MIGRATION_LOCK_KEY: i64 = 0x6272_6973_6b5f_6d67; // "brisk_mg"

/// What one `migrate` run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// True when the database did not exist and was created.
    pub created_database: bool,
    /// Versions of the migrations applied by this run, in order.
    pub applied: Vec<String>,
}

/// Creates the database of `direct_url` if missing and runs pending migrations.
pub fn migrate(direct_url: &str) -> Result<(), String> {
    migrate_with_report(direct_url).map(|_| ())
}

/// Like [`migrate`], returning what was created and applied.
pub fn migrate_with_report(direct_url: &str) -> Result<MigrateReport, String> {
    let created_database = create_database_if_missing(direct_url)?;
    let mut conn = connect(direct_url)?;
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
        .execute(&mut conn)
        .map_err(|e| format!("cannot take the migration lock: {e}"))?;
    let outcome = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(|v| v.to_string()).collect::<Vec<_>>())
        .map_err(|e| format!("migration failed: {e}"));
    // The lock also goes away with the session; unlock anyway so a long-lived
    // caller's connection does not keep it.
    let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
        .execute(&mut conn);
    Ok(MigrateReport {
        created_database,
        applied: outcome?,
    })
}

/// `brisk migrate`: migrates the database of `direct_url` (not through PgBouncer)
/// and prints what it did.
pub fn run_cli(direct_url: &str) -> Result<(), String> {
    let (_, name) = split_database(direct_url)?;
    let report = migrate_with_report(direct_url)?;
    if report.created_database {
        println!("created database {name}");
    }
    if report.applied.is_empty() {
        println!("database {name} is up to date");
    }
    for version in &report.applied {
        println!("applied migration {version}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use brisk_kit::db::direct::drop_database;

    #[test]
    fn migrate_creates_the_database_and_is_idempotent() {
        let name = format!("brisk_migratetest_{}", uuid::Uuid::new_v4().simple());
        let url = format!("postgres://root@127.0.0.1:5432/{name}");
        let first = migrate_with_report(&url);
        let second = migrate_with_report(&url);
        let _ = drop_database(&url);
        let first = first.unwrap();
        assert!(first.created_database);
        let embedded =
            diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
                .unwrap()
                .len();
        assert_eq!(first.applied.len(), embedded);
        let second = second.unwrap();
        assert!(!second.created_database);
        assert!(second.applied.is_empty());
    }
}
