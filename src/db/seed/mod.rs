//! `brisk seed`: the standard data set of API.md, generated deterministically
//! and bulk-loaded with COPY. Three steps, one file each:
//!
//! - `generate`: a pure function of the scale, the anchor and a fixed RNG seed
//!   ([`generate()`]), so the same `--scale` and `--anchor` give the same rows,
//!   byte for byte ([`Dataset::checksum`]);
//! - `copy`: the COPY text writer ([`Table`], [`Dataset`]) and the `COPY FROM` of
//!   every table;
//! - `load`: [`seed()`] runs in one transaction over a direct connection: it drops
//!   the secondary indexes and the foreign keys of the seeded tables, COPYs every
//!   table with explicit ids, recreates what it dropped (one index build and one
//!   validation query each, far cheaper than maintaining them row by row), moves
//!   the id sequences past the loaded ids, commits, then ANALYZEs.

mod copy;
mod generate;
mod load;
#[cfg(test)]
mod tests;

pub use copy::{Dataset, Table};
pub use generate::{demo_key, demo_password_hash, generate, key_hash, search_terms, Vocabulary};
pub use load::{is_empty, run_cli, seed};

use brisk_kit::db::config::DEFAULT_DIRECT_DATABASE_URL;
use chrono::{DateTime, Duration, DurationRound, Utc};

/// The vocabulary of names (`data/words.txt`).
pub const WORDS: &str = include_str!("../../../data/words.txt");
/// The search terms benchmarks use (`data/search-terms.txt`); each hits seeded products.
pub const SEARCH_TERMS: &str = include_str!("../../../data/search-terms.txt");

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
/// The scale of the standard data set: 1,000 customers and products, 50,000
/// orders per tenant.
pub const DEFAULT_SCALE: f64 = 1.0;

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
            scale: DEFAULT_SCALE,
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

/// `brisk seed`: where and what to seed ([`run_cli`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SeedConfig {
    /// Direct PostgreSQL URL (not through PgBouncer) used for the bulk load.
    pub direct_database_url: String,
    /// Scale and anchor of the data set.
    pub options: SeedOptions,
    /// Seed only when the database has no rows (used by `make run`).
    pub if_empty: bool,
}

impl Default for SeedConfig {
    fn default() -> Self {
        Self {
            direct_database_url: DEFAULT_DIRECT_DATABASE_URL.to_string(),
            options: SeedOptions::default(),
            if_empty: false,
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
    /// Rows written to `tenants`.
    pub tenants: usize,
    /// Rows written to `api_keys`.
    pub api_keys: usize,
    /// Rows written to `users`.
    pub users: usize,
    /// Rows written to `customers`.
    pub customers: usize,
    /// Rows written to `products`.
    pub products: usize,
    /// Rows written to `orders`.
    pub orders: usize,
    /// Rows written to `order_items`.
    pub order_items: usize,
    /// End of the order window used.
    pub anchor: DateTime<Utc>,
    /// Wall time of the whole run (generation, load, indexes, ANALYZE).
    pub elapsed: std::time::Duration,
}

/// Options shared by the generation and load tests.
#[cfg(test)]
mod fixtures {
    use super::SeedOptions;
    use chrono::{DateTime, TimeZone, Utc};

    /// The anchor every test uses.
    pub fn fixed_anchor() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, 5, 0, 0).unwrap()
    }

    /// Scale 0.02 at the fixed anchor: 20 customers and products, 1,000 orders per tenant.
    pub fn small() -> SeedOptions {
        SeedOptions {
            scale: 0.02,
            anchor: Some(fixed_anchor()),
        }
    }
}
