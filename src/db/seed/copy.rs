//! The COPY writer: rows as PostgreSQL's COPY text format (tab-separated, `\N`
//! for NULL, backslash escapes), the [`Dataset`] that holds one such text per table,
//! and the `COPY FROM` that streams each table of it into the database.

use crate::db::schema::{api_keys, customers, order_items, orders, products, tenants, users};
use chrono::{DateTime, Utc};
use diesel::pg::{CopyFormat, PgConnection};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// COPY's NULL marker.
pub(super) const NULL: &str = "\\N";

/// One table's COPY text and row count.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// Rows written so far.
    pub rows: usize,
    /// The rows, one line each, in COPY text format.
    pub text: String,
}

impl Table {
    /// Appends one row; each field is written with `Display` and escaped.
    pub(super) fn row(&mut self, fields: &[&dyn std::fmt::Display]) {
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

/// The standard data set as COPY text (tab-separated, `\N` for NULL), one
/// buffer per table, plus its row counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// End of the order window.
    pub anchor: DateTime<Utc>,
    /// `tenants` rows.
    pub tenants: Table,
    /// `api_keys` rows (one demo key per tenant).
    pub api_keys: Table,
    /// `users` rows (one admin per tenant).
    pub users: Table,
    /// `customers` rows.
    pub customers: Table,
    /// `products` rows.
    pub products: Table,
    /// `orders` rows, ids ascending with `created_at`.
    pub orders: Table,
    /// `order_items` rows.
    pub order_items: Table,
}

impl Dataset {
    /// No rows yet, for the order window ending at `anchor`.
    pub(super) fn empty(anchor: DateTime<Utc>) -> Self {
        Dataset {
            anchor,
            tenants: Table::default(),
            api_keys: Table::default(),
            users: Table::default(),
            customers: Table::default(),
            products: Table::default(),
            orders: Table::default(),
            order_items: Table::default(),
        }
    }

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

/// COPY text-format timestamp (UTC, microseconds).
pub(super) fn ts(t: DateTime<Utc>) -> impl std::fmt::Display {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00")
}

fn copy_rows(text: &str) -> impl Fn(&mut dyn std::io::Write) -> Result<(), DieselError> + '_ {
    move |out| {
        out.write_all(text.as_bytes())
            .map_err(|e| DieselError::SerializationError(Box::new(e)))
    }
}

// One `COPY <table> (<columns>) FROM STDIN` of a table's text; the column list is
// the order the generator writes fields in.
macro_rules! copy_table {
    ($conn:expr, $table:ident, ($($column:ident),+ $(,)?), $rows:expr) => {
        diesel::copy_from($table::table)
            .from_raw_data(($($table::$column),+), copy_rows(&$rows.text))
            .with_format(CopyFormat::Text)
            .execute($conn)?
    };
}

/// COPYs every table of `ds`, parents first, with explicit ids.
pub(super) fn copy_all(conn: &mut PgConnection, ds: &Dataset) -> Result<(), DieselError> {
    copy_table!(conn, tenants, (id, name, plan, created_at), ds.tenants);
    copy_table!(
        conn,
        api_keys,
        (id, tenant_id, key_hash, label, expires_at, created_at),
        ds.api_keys
    );
    copy_table!(conn, users, (id, tenant_id, email, password_hash), ds.users);
    copy_table!(
        conn,
        customers,
        (id, tenant_id, name, email, created_at),
        ds.customers
    );
    copy_table!(
        conn,
        products,
        (id, tenant_id, sku, name, price_cents, stock, updated_at),
        ds.products
    );
    copy_table!(
        conn,
        orders,
        (id, tenant_id, customer_id, status, total_cents, created_at),
        ds.orders
    );
    copy_table!(
        conn,
        order_items,
        (id, order_id, product_id, quantity, unit_price_cents),
        ds.order_items
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_special_characters() {
        let mut t = Table::default();
        t.row(&[&"a\tb", &"c\\d", &"e\nf"]);
        assert_eq!(t.text, "a\\tb\tc\\\\d\te\\nf\n");
    }
}
