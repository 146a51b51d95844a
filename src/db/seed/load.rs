//! The load: one transaction over a direct connection that refuses a database
//! holding rows, drops the secondary indexes and foreign keys of the seeded
//! tables, COPYs the data set, rebuilds what it dropped and moves the id
//! sequences past the loaded ids; then `VACUUM ANALYZE`. And `brisk seed` itself
//! (`run_cli`), which runs it and prints what it wrote.

use super::copy::{copy_all, Dataset};
use super::{generate, SeedConfig, SeedOptions, SeedReport};
use brisk_kit::db::direct::{connect, quote_ident};
use diesel::connection::Connection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{Bool, Text};
use std::time::Instant;

/// Tables the seed writes, parents first (load order).
const SEEDED_TABLES: [&str; 7] = [
    "tenants",
    "api_keys",
    "users",
    "customers",
    "products",
    "orders",
    "order_items",
];

/// Held (transaction-scoped) while seeding, so two seeds cannot interleave.
const SEED_LOCK_KEY: i64 = 0x6272_6973_6b5f_7364;

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    value: bool,
}

/// An index or a constraint, with the SQL that recreates it.
#[derive(QueryableByName)]
struct Definition {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    def: String,
}

fn is_empty_on(conn: &mut PgConnection) -> Result<bool, String> {
    let probes: Vec<String> = SEEDED_TABLES
        .iter()
        .chain(std::iter::once(&"idempotency_keys"))
        .map(|t| format!("NOT EXISTS (SELECT 1 FROM {})", quote_ident(t)))
        .collect();
    let flag: Flag = diesel::sql_query(format!("SELECT {} AS value", probes.join(" AND ")))
        .get_result(conn)
        .map_err(|e| format!("cannot inspect the database (has `brisk migrate` run?): {e}"))?;
    Ok(flag.value)
}

/// True when the migrated database of `direct_url` holds no rows in any data table.
pub fn is_empty(direct_url: &str) -> Result<bool, String> {
    is_empty_on(&mut connect(direct_url)?)
}

/// Seeds the empty, migrated database of `direct_url` with the standard data
/// set. Refuses a database that holds any rows.
pub fn seed(direct_url: &str, opts: &SeedOptions) -> Result<SeedReport, String> {
    let started = Instant::now();
    let ds = generate(opts)?;
    let mut conn = connect(direct_url)?;
    conn.transaction::<_, SeedError, _>(|conn| load(conn, &ds))
        .map_err(|e| match e {
            SeedError::Refused(message) => message,
            SeedError::Db(e) => format!("seed failed: {e}"),
        })?;
    // VACUUM sets the visibility map, so counts are index-only scans from the start.
    exec(&mut conn, "VACUUM ANALYZE").map_err(|e| format!("VACUUM ANALYZE failed: {e:?}"))?;
    Ok(SeedReport {
        tenants: ds.tenants.rows,
        api_keys: ds.api_keys.rows,
        users: ds.users.rows,
        customers: ds.customers.rows,
        products: ds.products.rows,
        orders: ds.orders.rows,
        order_items: ds.order_items.rows,
        anchor: ds.anchor,
        elapsed: started.elapsed(),
    })
}

/// The transaction's body: lock, refuse a database with rows, load without the
/// secondary indexes and foreign keys, then move the sequences.
fn load(conn: &mut PgConnection, ds: &Dataset) -> Result<(), SeedError> {
    exec(
        conn,
        &format!("SELECT pg_advisory_xact_lock({SEED_LOCK_KEY})"),
    )?;
    if !is_empty_on(conn).map_err(SeedError::Refused)? {
        return Err(SeedError::Refused(
            "the database is not empty; seed fills only an empty database".into(),
        ));
    }
    // Bulk-load settings for this transaction only.
    exec(conn, "SET LOCAL maintenance_work_mem = '256MB'")?;
    exec(conn, "SET LOCAL synchronous_commit = off")?;
    let foreign_keys = foreign_keys(conn)?;
    let indexes = secondary_indexes(conn)?;
    for fk in &foreign_keys {
        exec(
            conn,
            &format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                quote_ident(&fk.table_name),
                quote_ident(&fk.name)
            ),
        )?;
    }
    for index in &indexes {
        exec(conn, &format!("DROP INDEX {}", quote_ident(&index.name)))?;
    }
    copy_all(conn, ds)?;
    restore(conn, &indexes, &foreign_keys)?;
    reset_sequences(conn)
}

/// Rebuilds the dropped indexes (one build each), then re-adds the foreign keys
/// (one validating join each).
fn restore(
    conn: &mut PgConnection,
    indexes: &[Definition],
    foreign_keys: &[Definition],
) -> Result<(), SeedError> {
    for index in indexes {
        exec(conn, &index.def)?;
    }
    for fk in foreign_keys {
        exec(
            conn,
            &format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {}",
                quote_ident(&fk.table_name),
                quote_ident(&fk.name),
                fk.def
            ),
        )?;
    }
    Ok(())
}

/// Later inserts (logins, new orders) continue after the seeded ids.
fn reset_sequences(conn: &mut PgConnection) -> Result<(), SeedError> {
    for table in SEEDED_TABLES {
        exec(
            conn,
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
            ),
        )?;
    }
    Ok(())
}

#[derive(Debug)]
enum SeedError {
    Refused(String),
    Db(DieselError),
}

impl From<DieselError> for SeedError {
    fn from(e: DieselError) -> Self {
        SeedError::Db(e)
    }
}

fn exec(conn: &mut PgConnection, sql: &str) -> Result<(), SeedError> {
    diesel::sql_query(sql).execute(conn)?;
    Ok(())
}

/// Foreign keys declared on the seeded tables: dropped for the load, then
/// re-added (one validating join each).
fn foreign_keys(conn: &mut PgConnection) -> Result<Vec<Definition>, SeedError> {
    Ok(diesel::sql_query(
        "SELECT c.conrelid::regclass::text AS table_name, c.conname::text AS name, \
                pg_get_constraintdef(c.oid) AS def \
         FROM pg_constraint c \
         WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace \
           AND c.conrelid::regclass::text = ANY($1) \
         ORDER BY c.conname",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(SEEDED_TABLES.to_vec())
    .load(conn)?)
}

/// Indexes of the seeded tables that back no constraint (primary keys and
/// unique constraints stay): dropped for the load, rebuilt once after.
fn secondary_indexes(conn: &mut PgConnection) -> Result<Vec<Definition>, SeedError> {
    Ok(diesel::sql_query(
        "SELECT i.tablename::text AS table_name, i.indexname::text AS name, i.indexdef AS def \
         FROM pg_indexes i \
         WHERE i.schemaname = current_schema() AND i.tablename::text = ANY($1) \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
                           WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass) \
         ORDER BY i.indexname",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(SEEDED_TABLES.to_vec())
    .load(conn)?)
}

/// `brisk seed`: seeds and prints the counts and the elapsed time.
pub fn run_cli(config: &SeedConfig) -> Result<(), String> {
    if config.if_empty && !is_empty(&config.direct_database_url)? {
        println!("database is not empty: seed skipped (--if-empty)");
        return Ok(());
    }
    let opts = &config.options;
    let report = seed(&config.direct_database_url, opts)?;
    println!(
        "seeded scale {} (anchor {}): {} tenants, {} api_keys, {} users, {} customers, \
         {} products, {} orders, {} order_items in {:.2} s",
        opts.scale,
        report.anchor.to_rfc3339(),
        report.tenants,
        report.api_keys,
        report.users,
        report.customers,
        report.products,
        report.orders,
        report.order_items,
        report.elapsed.as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::seed::fixtures::small;
    use diesel::sql_types::BigInt;

    /// A throwaway database on the direct server, dropped on drop.
    struct ScratchDb {
        url: String,
    }

    impl ScratchDb {
        fn new() -> Self {
            let name = format!("brisk_seedtest_{}", uuid::Uuid::new_v4().simple());
            let url = format!("postgres://root@127.0.0.1:5432/{name}");
            crate::db::migrate::migrate(&url).unwrap();
            ScratchDb { url }
        }
    }

    impl Drop for ScratchDb {
        fn drop(&mut self) {
            let _ = brisk_kit::db::direct::drop_database(&self.url);
        }
    }

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn count(conn: &mut PgConnection, sql: &str) -> i64 {
        diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
    }

    #[test]
    fn seed_loads_the_rows_rebuilds_indexes_and_refuses_a_second_run() {
        let db = ScratchDb::new();
        assert!(is_empty(&db.url).unwrap());
        let mut conn = connect(&db.url).unwrap();
        let index_count = "SELECT count(*) AS n FROM pg_indexes WHERE schemaname = 'public'";
        let fk_count = "SELECT count(*) AS n FROM pg_constraint WHERE contype = 'f'";
        let indexes_before = count(&mut conn, index_count);
        let fks_before = count(&mut conn, fk_count);

        let report = seed(&db.url, &small()).unwrap();
        assert_eq!(
            (
                report.tenants,
                report.customers,
                report.products,
                report.orders
            ),
            (4, 80, 80, 4_000)
        );
        assert!(!is_empty(&db.url).unwrap());
        for (table, expected) in [
            ("tenants", 4),
            ("api_keys", 4),
            ("users", 4),
            ("customers", 80),
            ("products", 80),
            ("orders", 4_000),
            ("order_items", report.order_items as i64),
        ] {
            let n = count(&mut conn, &format!("SELECT count(*) AS n FROM {table}"));
            assert_eq!(n, expected, "{table}");
        }
        for tenant in 1..=4 {
            let n = count(
                &mut conn,
                &format!("SELECT count(*) AS n FROM orders WHERE tenant_id = {tenant}"),
            );
            assert_eq!(n, 1_000);
        }
        assert_eq!(count(&mut conn, index_count), indexes_before);
        assert_eq!(count(&mut conn, fk_count), fks_before);
        // Totals in the database agree with the items.
        let mismatched = count(
            &mut conn,
            "SELECT count(*) AS n FROM orders o WHERE o.total_cents <> \
             (SELECT sum(quantity * unit_price_cents) FROM order_items i WHERE i.order_id = o.id)",
        );
        assert_eq!(mismatched, 0);
        // Sequences continue after the explicit ids.
        let next = count(
            &mut conn,
            "SELECT nextval(pg_get_serial_sequence('orders', 'id')) AS n",
        );
        assert_eq!(next, 4_001);
        let next_key = count(
            &mut conn,
            "SELECT nextval(pg_get_serial_sequence('api_keys', 'id')) AS n",
        );
        assert_eq!(next_key, 5);

        let again = seed(&db.url, &small()).unwrap_err();
        assert!(again.contains("not empty"), "{again}");
    }

    #[test]
    fn is_empty_reports_an_unmigrated_database_as_an_error() {
        let name = format!("brisk_seedtest_{}", uuid::Uuid::new_v4().simple());
        let url = format!("postgres://root@127.0.0.1:5432/{name}");
        brisk_kit::db::direct::create_database_if_missing(&url).unwrap();
        let outcome = is_empty(&url);
        let _ = brisk_kit::db::direct::drop_database(&url);
        assert!(outcome.unwrap_err().contains("migrate"));
    }
}
