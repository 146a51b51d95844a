//! `brisk seed`: the standard data set of API.md, generated deterministically
//! and bulk-loaded with COPY.
//!
//! Generation is a pure function of the scale, the anchor and a fixed RNG seed
//! ([`generate`]), so the same `--scale` and `--anchor` give the same rows,
//! byte for byte ([`Dataset::checksum`]). Loading ([`seed`]) runs in one
//! transaction over a direct connection: it drops the secondary indexes and the
//! foreign keys of the seeded tables, COPYs every table with explicit ids,
//! recreates what it dropped (one index build and one validation query each,
//! far cheaper than maintaining them row by row), moves the id sequences past
//! the loaded ids, commits, then ANALYZEs.

use crate::config::SeedArgs;
use crate::db::migrate::{connect, quote_ident};
use crate::db::schema::{api_keys, customers, order_items, orders, products, tenants, users};
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, DurationRound, Utc};
use diesel::connection::Connection;
use diesel::pg::{CopyFormat, PgConnection};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{Bool, Text};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::time::Instant;

/// The vocabulary of names (`data/words.txt`).
pub const WORDS: &str = include_str!("../../data/words.txt");
/// The search terms benchmarks use (`data/search-terms.txt`); each hits seeded products.
pub const SEARCH_TERMS: &str = include_str!("../../data/search-terms.txt");

/// The fixed RNG seed of the standard data set.
pub const RNG_SEED: u64 = 0x6272_6973_6b5f_7364; // "brisk_sd"
/// Tenants of the standard data set (ids 1..=4).
pub const TENANTS: [(&str, &str); 4] = [
    ("tenant1", "free"),
    ("tenant2", "pro"),
    ("tenant3", "pro"),
    ("tenant4", "enterprise"),
];
/// The demo password of every seeded user.
pub const DEMO_PASSWORD: &str = "password";
/// Days of the order window that ends at the anchor.
pub const ORDER_WINDOW_DAYS: i64 = 365;

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

/// What to seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedOptions {
    /// Scale factor S: 1,000×S customers and products, 50,000×S orders per tenant.
    pub scale: f64,
    /// End of the order window; `None` = the current UTC hour (truncated).
    pub anchor: Option<DateTime<Utc>>,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            scale: 1.0,
            anchor: None,
        }
    }
}

impl SeedOptions {
    /// The anchor in use: the given one, or the current UTC hour.
    pub fn resolved_anchor(&self) -> DateTime<Utc> {
        match self.anchor {
            Some(anchor) => anchor,
            None => {
                let now = Utc::now();
                now.duration_trunc(Duration::hours(1)).unwrap_or(now)
            }
        }
    }
}

/// Rows per tenant for a scale: `(customers, products, orders)`, each rounded
/// to the nearest integer and at least 1.
pub fn counts_per_tenant(scale: f64) -> (usize, usize, usize) {
    let n = |base: f64| ((base * scale).round() as usize).max(1);
    (n(1_000.0), n(1_000.0), n(50_000.0))
}

/// What one seed run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub tenants: usize,
    pub api_keys: usize,
    pub users: usize,
    pub customers: usize,
    pub products: usize,
    pub orders: usize,
    pub order_items: usize,
    /// End of the order window used.
    pub anchor: DateTime<Utc>,
    /// Wall time of the whole run (generation, load, indexes, ANALYZE).
    pub elapsed: std::time::Duration,
}

/// The standard data set as COPY text (tab-separated, `\N` for NULL), one
/// buffer per table, plus its row counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub anchor: DateTime<Utc>,
    pub tenants: Table,
    pub api_keys: Table,
    pub users: Table,
    pub customers: Table,
    pub products: Table,
    pub orders: Table,
    pub order_items: Table,
}

/// One table's COPY text and row count.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    pub rows: usize,
    pub text: String,
}

impl Table {
    fn row(&mut self, fields: &[&dyn std::fmt::Display]) {
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.text.push('\t');
            }
            let start = self.text.len();
            let _ = write!(self.text, "{field}");
            // `\N` is the NULL marker itself: seeded values never spell it.
            let value = &self.text[start..];
            if value != NULL && value.contains(['\\', '\t', '\n', '\r']) {
                let escaped = copy_escape(&self.text[start..]);
                self.text.truncate(start);
                self.text.push_str(&escaped);
            }
        }
        self.text.push('\n');
        self.rows += 1;
    }
}

/// Escapes a value for COPY's text format.
fn copy_escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 2);
    for c in raw.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

const NULL: &str = "\\N";

impl Dataset {
    /// SHA-256 (hex) over every table's COPY text: equal checksums mean equal rows.
    pub fn checksum(&self) -> String {
        let mut hash = Sha256::new();
        for (name, table) in self.tables() {
            hash.update(name.as_bytes());
            hash.update((table.rows as u64).to_le_bytes());
            hash.update(table.text.as_bytes());
        }
        hex::encode(hash.finalize())
    }

    /// The tables in load order.
    pub fn tables(&self) -> [(&'static str, &Table); 7] {
        [
            ("tenants", &self.tenants),
            ("api_keys", &self.api_keys),
            ("users", &self.users),
            ("customers", &self.customers),
            ("products", &self.products),
            ("orders", &self.orders),
            ("order_items", &self.order_items),
        ]
    }
}

/// The four word lists of `data/words.txt`.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    pub adjectives: Vec<&'static str>,
    pub nouns: Vec<&'static str>,
    pub first: Vec<&'static str>,
    pub last: Vec<&'static str>,
}

impl Vocabulary {
    /// Parses `data/words.txt` (`[section]` headers, `#` comments).
    pub fn standard() -> Result<Self, String> {
        let mut vocab = Vocabulary {
            adjectives: Vec::new(),
            nouns: Vec::new(),
            first: Vec::new(),
            last: Vec::new(),
        };
        let mut section = "";
        for line in WORDS.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name;
                continue;
            }
            match section {
                "adjectives" => vocab.adjectives.push(line),
                "nouns" => vocab.nouns.push(line),
                "first" => vocab.first.push(line),
                "last" => vocab.last.push(line),
                other => return Err(format!("words.txt: unknown section [{other}]")),
            }
        }
        for (name, list) in [
            ("adjectives", &vocab.adjectives),
            ("nouns", &vocab.nouns),
            ("first", &vocab.first),
            ("last", &vocab.last),
        ] {
            if list.is_empty() {
                return Err(format!("words.txt: section [{name}] is empty"));
            }
        }
        Ok(vocab)
    }
}

/// The search terms of `data/search-terms.txt`.
pub fn search_terms() -> Vec<&'static str> {
    SEARCH_TERMS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn title_case(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// COPY text-format timestamp (UTC, microseconds).
fn ts(t: DateTime<Utc>) -> impl std::fmt::Display {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00")
}

/// SHA-256 hex of an API key, as stored in `api_keys.key_hash`.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The demo API key of tenant `n`.
pub fn demo_key(tenant_id: i64) -> String {
    format!("demo-key-{tenant_id}")
}

/// The argon2id PHC hash (argon2 crate defaults) of the demo password for
/// tenant `n`'s admin, with a salt derived from the tenant id so the seed
/// stays deterministic.
pub fn demo_password_hash(tenant_id: i64) -> Result<String, String> {
    let salt_bytes = Sha256::digest(format!("brisk-seed-salt-{tenant_id}").as_bytes());
    let salt = SaltString::encode_b64(&salt_bytes[..16]).map_err(|e| format!("salt: {e}"))?;
    Argon2::default()
        .hash_password(DEMO_PASSWORD.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("argon2: {e}"))
}

/// One generated order before ids are assigned.
struct PendingOrder {
    created_at: DateTime<Utc>,
    tenant: i64,
    seq: u32,
    customer_id: i64,
    status: &'static str,
    /// (product id, quantity, unit price)
    items: Vec<(i64, i32, i64)>,
}

/// Builds the standard data set in memory. Pure: the same options (with an
/// explicit anchor) always give the same [`Dataset`].
///
/// User password hashes are computed here too (argon2, a few tens of
/// milliseconds each in a release build).
pub fn generate(opts: &SeedOptions) -> Result<Dataset, String> {
    if !(opts.scale.is_finite() && opts.scale > 0.0) {
        return Err(format!("scale must be positive, got {}", opts.scale));
    }
    let vocab = Vocabulary::standard()?;
    let anchor = opts.resolved_anchor();
    let (n_customers, n_products, n_orders) = counts_per_tenant(opts.scale);
    let mut rng = ChaCha8Rng::seed_from_u64(RNG_SEED);

    // Tenants, keys and users exist a little before the order window opens.
    let window = Duration::days(ORDER_WINDOW_DAYS);
    let founded = anchor - window - Duration::days(30);
    let window_micros = window.num_microseconds().unwrap_or(i64::MAX);

    let mut ds = Dataset {
        anchor,
        tenants: Table::default(),
        api_keys: Table::default(),
        users: Table::default(),
        customers: Table::default(),
        products: Table::default(),
        orders: Table::default(),
        order_items: Table::default(),
    };
    let mut pending = Vec::with_capacity(n_orders * TENANTS.len());
    let product_names: Vec<(usize, usize)> = (0..vocab.adjectives.len())
        .flat_map(|a| (0..vocab.nouns.len()).map(move |n| (a, n)))
        .collect();

    for (index, (name, plan)) in TENANTS.iter().enumerate() {
        let tenant = index as i64 + 1;
        ds.tenants.row(&[&tenant, name, plan, &ts(founded)]);
        ds.api_keys.row(&[
            &tenant,
            &tenant,
            &key_hash(&demo_key(tenant)),
            &"demo",
            &NULL,
            &ts(founded),
        ]);
        ds.users.row(&[
            &tenant,
            &tenant,
            &format!("admin@tenant{tenant}.example"),
            &demo_password_hash(tenant)?,
        ]);

        // Customers: ids are contiguous per tenant.
        let first_customer = (index * n_customers) as i64 + 1;
        for i in 0..n_customers {
            let first = vocab.first[rng.gen_range(0..vocab.first.len())];
            let last = vocab.last[rng.gen_range(0..vocab.last.len())];
            let joined = founded + Duration::seconds(rng.gen_range(0..30 * 86_400));
            ds.customers.row(&[
                &(first_customer + i as i64),
                &tenant,
                &format!("{first} {last}"),
                &format!(
                    "{}.{}.{}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    i + 1
                ),
                &ts(joined),
            ]);
        }

        // Products: a shuffled walk over every (adjective, noun) pair; once the
        // pairs run out, a number keeps names distinct ("Amber Mug 2").
        let mut names = product_names.clone();
        names.shuffle(&mut rng);
        let first_product = (index * n_products) as i64 + 1;
        let mut prices = Vec::with_capacity(n_products);
        for i in 0..n_products {
            let (a, n) = names[i % names.len()];
            let mut name = format!(
                "{} {}",
                title_case(vocab.adjectives[a]),
                title_case(vocab.nouns[n])
            );
            if i >= names.len() {
                let _ = write!(name, " {}", i / names.len() + 1);
            }
            let price: i64 = rng.gen_range(199..=49_999);
            let stock: i32 = rng.gen_range(0..=1_000);
            let updated = founded + Duration::seconds(rng.gen_range(0..30 * 86_400));
            prices.push(price);
            ds.products.row(&[
                &(first_product + i as i64),
                &tenant,
                &format!("SKU-{:06}", i + 1),
                &name,
                &price,
                &stock,
                &ts(updated),
            ]);
        }

        // Orders: uniform over the window ending at the anchor.
        for seq in 0..n_orders {
            let back = rng.gen_range(0..window_micros);
            let created_at = anchor - Duration::microseconds(back);
            let customer_id = first_customer + rng.gen_range(0..n_customers) as i64;
            let status = match rng.gen_range(0..100) {
                0..=9 => "pending",
                10..=39 => "paid",
                40..=89 => "shipped",
                _ => "cancelled",
            };
            let lines = rng.gen_range(1..=5).min(n_products);
            let items = rand::seq::index::sample(&mut rng, n_products, lines)
                .into_iter()
                .map(|p| {
                    let quantity: i32 = rng.gen_range(1..=3);
                    (first_product + p as i64, quantity, prices[p])
                })
                .collect();
            pending.push(PendingOrder {
                created_at,
                tenant,
                seq: seq as u32,
                customer_id,
                status,
                items,
            });
        }
    }

    // Order ids ascend with created_at across all tenants (ties broken by
    // tenant and generation order, so the order is total and deterministic).
    pending.sort_by_key(|o| (o.created_at, o.tenant, o.seq));
    let mut item_id: i64 = 0;
    for (index, order) in pending.iter().enumerate() {
        let order_id = index as i64 + 1;
        let total: i64 = order
            .items
            .iter()
            .map(|&(_, quantity, price)| quantity as i64 * price)
            .sum();
        ds.orders.row(&[
            &order_id,
            &order.tenant,
            &order.customer_id,
            &order.status,
            &total,
            &ts(order.created_at),
        ]);
        for &(product_id, quantity, price) in &order.items {
            item_id += 1;
            ds.order_items
                .row(&[&item_id, &order_id, &product_id, &quantity, &price]);
        }
    }
    Ok(ds)
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    value: bool,
}

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
    conn.transaction::<_, SeedError, _>(|conn| {
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
        load(conn, &ds)?;
        for index in &indexes {
            exec(conn, &index.def)?;
        }
        for fk in &foreign_keys {
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
        for table in SEEDED_TABLES {
            // Later inserts (logins, new orders) continue after the seeded ids.
            exec(
                conn,
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
                ),
            )?;
        }
        Ok(())
    })
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

fn copy_rows(text: &str) -> impl Fn(&mut dyn std::io::Write) -> Result<(), DieselError> + '_ {
    move |out| {
        out.write_all(text.as_bytes())
            .map_err(|e| DieselError::SerializationError(Box::new(e)))
    }
}

fn load(conn: &mut PgConnection, ds: &Dataset) -> Result<(), SeedError> {
    diesel::copy_from(tenants::table)
        .from_raw_data(
            (
                tenants::id,
                tenants::name,
                tenants::plan,
                tenants::created_at,
            ),
            copy_rows(&ds.tenants.text),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    diesel::copy_from(api_keys::table)
        .from_raw_data(
            (
                api_keys::id,
                api_keys::tenant_id,
                api_keys::key_hash,
                api_keys::label,
                api_keys::expires_at,
                api_keys::created_at,
            ),
            copy_rows(&ds.api_keys.text),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    diesel::copy_from(users::table)
        .from_raw_data(
            (
                users::id,
                users::tenant_id,
                users::email,
                users::password_hash,
            ),
            copy_rows(&ds.users.text),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    diesel::copy_from(customers::table)
        .from_raw_data(
            (
                customers::id,
                customers::tenant_id,
                customers::name,
                customers::email,
                customers::created_at,
            ),
            copy_rows(&ds.customers.text),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    diesel::copy_from(products::table)
        .from_raw_data(
            (
                products::id,
                products::tenant_id,
                products::sku,
                products::name,
                products::price_cents,
                products::stock,
                products::updated_at,
            ),
            copy_rows(&ds.products.text),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    diesel::copy_from(orders::table)
        .from_raw_data(
            (
                orders::id,
                orders::tenant_id,
                orders::customer_id,
                orders::status,
                orders::total_cents,
                orders::created_at,
            ),
            copy_rows(&ds.orders.text),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    diesel::copy_from(order_items::table)
        .from_raw_data(
            (
                order_items::id,
                order_items::order_id,
                order_items::product_id,
                order_items::quantity,
                order_items::unit_price_cents,
            ),
            copy_rows(&ds.order_items.text),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    Ok(())
}

/// `brisk seed`: seeds and prints the counts and the elapsed time.
pub fn run_cli(args: &SeedArgs) -> Result<(), String> {
    if args.if_empty && !is_empty(&args.direct_database_url)? {
        println!("database is not empty: seed skipped (--if-empty)");
        return Ok(());
    }
    let opts = SeedOptions {
        scale: args.scale,
        anchor: args.anchor,
    };
    let report = seed(&args.direct_database_url, &opts)?;
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
    use chrono::TimeZone;
    use diesel::sql_types::BigInt;

    fn fixed_anchor() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, 5, 0, 0).unwrap()
    }

    fn small() -> SeedOptions {
        SeedOptions {
            scale: 0.02,
            anchor: Some(fixed_anchor()),
        }
    }

    #[test]
    fn the_same_scale_and_anchor_give_the_same_rows() {
        let a = generate(&small()).unwrap();
        let b = generate(&small()).unwrap();
        assert_eq!(a.checksum(), b.checksum());
        assert_eq!(a, b);
    }

    #[test]
    fn another_anchor_gives_other_timestamps() {
        let a = generate(&small()).unwrap();
        let b = generate(&SeedOptions {
            anchor: Some(fixed_anchor() + Duration::hours(1)),
            ..small()
        })
        .unwrap();
        assert_ne!(a.checksum(), b.checksum());
        // Only timestamps move: the products are the same.
        let strip = |t: &Table| -> Vec<String> {
            t.text
                .lines()
                .map(|l| l.rsplit_once('\t').unwrap().0.to_string())
                .collect()
        };
        assert_eq!(strip(&a.products), strip(&b.products));
    }

    #[test]
    fn fractional_scales_round_and_keep_at_least_one_of_each() {
        assert_eq!(counts_per_tenant(1.0), (1_000, 1_000, 50_000));
        assert_eq!(counts_per_tenant(0.02), (20, 20, 1_000));
        assert_eq!(counts_per_tenant(0.0001), (1, 1, 5));
        assert_eq!(counts_per_tenant(0.000001), (1, 1, 1));
        let ds = generate(&SeedOptions {
            scale: 0.000001,
            anchor: Some(fixed_anchor()),
        })
        .unwrap();
        assert_eq!(ds.orders.rows, 4);
        assert_eq!(ds.order_items.rows, 4);
    }

    fn fields(t: &Table) -> Vec<Vec<&str>> {
        t.text.lines().map(|l| l.split('\t').collect()).collect()
    }

    fn parse_ts(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f%#z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn orders_follow_the_standard_data_set_rules() {
        let ds = generate(&small()).unwrap();
        assert_eq!(ds.tenants.rows, 4);
        assert_eq!(ds.customers.rows, 80);
        assert_eq!(ds.products.rows, 80);
        assert_eq!(ds.orders.rows, 4_000);

        let products = fields(&ds.products);
        let price_of = |id: i64| -> (i64, i64) {
            let p = &products[(id - 1) as usize];
            (p[1].parse().unwrap(), p[4].parse().unwrap())
        };
        let items = fields(&ds.order_items);
        let mut by_order: std::collections::HashMap<i64, Vec<&Vec<&str>>> = Default::default();
        for item in &items {
            by_order
                .entry(item[1].parse().unwrap())
                .or_default()
                .push(item);
        }
        let anchor = fixed_anchor();
        let mut previous: Option<(i64, DateTime<Utc>)> = None;
        let mut statuses: std::collections::HashMap<&str, usize> = Default::default();
        for order in fields(&ds.orders) {
            let id: i64 = order[0].parse().unwrap();
            let tenant: i64 = order[1].parse().unwrap();
            let created = parse_ts(order[5]);
            assert!(created <= anchor && created > anchor - Duration::days(365));
            if let Some((prev_id, prev_created)) = previous {
                assert_eq!(id, prev_id + 1);
                assert!(created >= prev_created, "ids ascend with created_at");
            }
            previous = Some((id, created));
            *statuses.entry(order[3]).or_default() += 1;
            let lines = &by_order[&id];
            assert!((1..=5).contains(&lines.len()));
            let mut seen = std::collections::HashSet::new();
            let mut total = 0;
            for line in lines {
                let product: i64 = line[2].parse().unwrap();
                let quantity: i64 = line[3].parse().unwrap();
                let unit: i64 = line[4].parse().unwrap();
                assert!(seen.insert(product), "distinct products in an order");
                let (product_tenant, price) = price_of(product);
                assert_eq!(product_tenant, tenant, "products of the order's tenant");
                assert_eq!(unit, price);
                assert!((1..=3).contains(&quantity));
                total += quantity * unit;
            }
            assert_eq!(order[4].parse::<i64>().unwrap(), total);
        }
        // 10/30/50/10 % of 4,000 orders, within a generous margin.
        for (status, share) in [
            ("pending", 400),
            ("paid", 1_200),
            ("shipped", 2_000),
            ("cancelled", 400),
        ] {
            let n = statuses[status] as i64;
            assert!((n - share).abs() < share / 5, "{status}: {n} vs {share}");
        }
    }

    #[test]
    fn products_are_title_case_distinct_and_priced_in_range() {
        let ds = generate(&SeedOptions {
            scale: 2.0,
            anchor: Some(fixed_anchor()),
        })
        .unwrap();
        let products = fields(&ds.products);
        assert_eq!(products.len(), 8_000);
        for tenant in 1..=4 {
            let names: std::collections::HashSet<&str> = products
                .iter()
                .filter(|p| p[1] == tenant.to_string())
                .map(|p| p[3])
                .collect();
            assert_eq!(names.len(), 2_000, "names are distinct within a tenant");
        }
        assert_eq!(products[0][2], "SKU-000001");
        for p in &products {
            let words: Vec<&str> = p[3].split(' ').collect();
            assert!(words.len() == 2 || words.len() == 3);
            assert!(words[..2]
                .iter()
                .all(|w| w.chars().next().unwrap().is_uppercase()));
            let price: i64 = p[4].parse().unwrap();
            let stock: i64 = p[5].parse().unwrap();
            assert!((199..=49_999).contains(&price));
            assert!((0..=1_000).contains(&stock));
        }
    }

    #[test]
    fn every_search_term_hits_products_of_every_tenant_at_scale_1() {
        let ds = generate(&SeedOptions {
            scale: 1.0,
            anchor: Some(fixed_anchor()),
        })
        .unwrap();
        assert_eq!(ds.orders.rows, 200_000);
        let products = fields(&ds.products);
        let terms = search_terms();
        assert_eq!(terms.len(), 20);
        for tenant in 1..=4 {
            let names: Vec<String> = products
                .iter()
                .filter(|p| p[1] == tenant.to_string())
                .map(|p| p[3].to_lowercase())
                .collect();
            for term in &terms {
                assert!(
                    names.iter().any(|n| n.contains(term)),
                    "{term} hits no product of tenant {tenant}"
                );
            }
        }
    }

    #[test]
    fn demo_credentials_are_stored_as_the_contract_says() {
        let ds = generate(&small()).unwrap();
        let keys = fields(&ds.api_keys);
        assert_eq!(keys[1][2], key_hash("demo-key-2"));
        assert_eq!(keys[1][3], "demo");
        assert_eq!(keys[1][4], NULL);
        let users = fields(&ds.users);
        assert_eq!(users[3][2], "admin@tenant4.example");
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let hash = PasswordHash::new(users[3][3]).unwrap();
        assert_eq!(hash.algorithm.as_str(), "argon2id");
        assert!(Argon2::default()
            .verify_password(DEMO_PASSWORD.as_bytes(), &hash)
            .is_ok());
    }

    #[test]
    fn copy_text_escapes_special_characters() {
        let mut t = Table::default();
        t.row(&[&"a\tb", &"c\\d", &"e\nf"]);
        assert_eq!(t.text, "a\\tb\tc\\\\d\te\\nf\n");
    }

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
            let _ = crate::db::migrate::drop_database(&self.url);
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
        crate::db::migrate::create_database_if_missing(&url).unwrap();
        let outcome = is_empty(&url);
        let _ = crate::db::migrate::drop_database(&url);
        assert!(outcome.unwrap_err().contains("migrate"));
    }
}
