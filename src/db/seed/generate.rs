//! The deterministic generation of the standard data set: a pure function of the
//! scale, the anchor and [`RNG_SEED`], drawn in a fixed order (per tenant:
//! customers, the product-name shuffle, products, orders), so the same options
//! give the same rows byte for byte.

use super::copy::{ts, Dataset, NULL};
use super::{
    counts_per_tenant, SeedOptions, DEMO_PASSWORD, ORDER_WINDOW_DAYS, RNG_SEED, SEARCH_TERMS,
    TENANTS, WORDS,
};
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The four word lists of `data/words.txt`.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// `[adjectives]`: first word of a product name.
    pub adjectives: Vec<&'static str>,
    /// `[nouns]`: second word of a product name.
    pub nouns: Vec<&'static str>,
    /// `[first]`: customers' first names.
    pub first: Vec<&'static str>,
    /// `[last]`: customers' last names.
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

/// What every tenant's rows are drawn from.
struct Shape<'v> {
    vocab: &'v Vocabulary,
    /// Every (adjective, noun) pair, in vocabulary order (shuffled per tenant).
    product_names: Vec<(usize, usize)>,
    n_customers: usize,
    n_products: usize,
    n_orders: usize,
    /// When tenants, keys and users were created: a little before the window opens.
    founded: DateTime<Utc>,
    anchor: DateTime<Utc>,
    window_micros: i64,
}

/// Where one tenant's rows start.
struct TenantIds {
    tenant: i64,
    first_customer: i64,
    first_product: i64,
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
    let window = Duration::days(ORDER_WINDOW_DAYS);
    let shape = Shape {
        vocab: &vocab,
        product_names: (0..vocab.adjectives.len())
            .flat_map(|a| (0..vocab.nouns.len()).map(move |n| (a, n)))
            .collect(),
        n_customers,
        n_products,
        n_orders,
        founded: anchor - window - Duration::days(30),
        anchor,
        window_micros: window.num_microseconds().unwrap_or(i64::MAX),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(RNG_SEED);
    let mut ds = Dataset::empty(anchor);
    let mut pending = Vec::with_capacity(n_orders * TENANTS.len());
    for (index, (name, plan)) in TENANTS.iter().enumerate() {
        let ids = TenantIds {
            tenant: index as i64 + 1,
            first_customer: (index * n_customers) as i64 + 1,
            first_product: (index * n_products) as i64 + 1,
        };
        shape.accounts(&mut ds, ids.tenant, name, plan)?;
        shape.customers(&mut ds, &mut rng, &ids);
        let prices = shape.products(&mut ds, &mut rng, &ids);
        shape.orders(&mut rng, &ids, &prices, &mut pending);
    }
    number_orders(&mut ds, pending);
    Ok(ds)
}

impl Shape<'_> {
    /// The tenant row, its demo API key and its admin user (no randomness).
    fn accounts(
        &self,
        ds: &mut Dataset,
        tenant: i64,
        name: &str,
        plan: &str,
    ) -> Result<(), String> {
        ds.tenants.row(&[&tenant, &name, &plan, &ts(self.founded)]);
        ds.api_keys.row(&[
            &tenant,
            &tenant,
            &key_hash(&demo_key(tenant)),
            &"demo",
            &NULL,
            &ts(self.founded),
        ]);
        ds.users.row(&[
            &tenant,
            &tenant,
            &format!("admin@tenant{tenant}.example"),
            &demo_password_hash(tenant)?,
        ]);
        Ok(())
    }

    /// Customers: ids are contiguous per tenant.
    fn customers(&self, ds: &mut Dataset, rng: &mut ChaCha8Rng, ids: &TenantIds) {
        let vocab = self.vocab;
        for i in 0..self.n_customers {
            let first = vocab.first[rng.gen_range(0..vocab.first.len())];
            let last = vocab.last[rng.gen_range(0..vocab.last.len())];
            let joined = self.founded + Duration::seconds(rng.gen_range(0..30 * 86_400));
            ds.customers.row(&[
                &(ids.first_customer + i as i64),
                &ids.tenant,
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
    }

    /// Products: a shuffled walk over every (adjective, noun) pair; once the
    /// pairs run out, a number keeps names distinct ("Amber Mug 2"). Returns the
    /// prices, by position.
    fn products(&self, ds: &mut Dataset, rng: &mut ChaCha8Rng, ids: &TenantIds) -> Vec<i64> {
        let mut names = self.product_names.clone();
        names.shuffle(rng);
        let mut prices = Vec::with_capacity(self.n_products);
        for i in 0..self.n_products {
            let (a, n) = names[i % names.len()];
            let mut name = format!(
                "{} {}",
                title_case(self.vocab.adjectives[a]),
                title_case(self.vocab.nouns[n])
            );
            if i >= names.len() {
                let _ = write!(name, " {}", i / names.len() + 1);
            }
            let price: i64 = rng.gen_range(199..=49_999);
            let stock: i32 = rng.gen_range(0..=1_000);
            let updated = self.founded + Duration::seconds(rng.gen_range(0..30 * 86_400));
            prices.push(price);
            ds.products.row(&[
                &(ids.first_product + i as i64),
                &ids.tenant,
                &format!("SKU-{:06}", i + 1),
                &name,
                &price,
                &stock,
                &ts(updated),
            ]);
        }
        prices
    }

    /// Orders: uniform over the window ending at the anchor; ids come later.
    fn orders(
        &self,
        rng: &mut ChaCha8Rng,
        ids: &TenantIds,
        prices: &[i64],
        pending: &mut Vec<PendingOrder>,
    ) {
        for seq in 0..self.n_orders {
            let back = rng.gen_range(0..self.window_micros);
            let created_at = self.anchor - Duration::microseconds(back);
            let customer_id = ids.first_customer + rng.gen_range(0..self.n_customers) as i64;
            let status = match rng.gen_range(0..100) {
                0..=9 => "pending",
                10..=39 => "paid",
                40..=89 => "shipped",
                _ => "cancelled",
            };
            let lines = rng.gen_range(1..=5).min(self.n_products);
            let items = rand::seq::index::sample(rng, self.n_products, lines)
                .into_iter()
                .map(|p| {
                    let quantity: i32 = rng.gen_range(1..=3);
                    (ids.first_product + p as i64, quantity, prices[p])
                })
                .collect();
            pending.push(PendingOrder {
                created_at,
                tenant: ids.tenant,
                seq: seq as u32,
                customer_id,
                status,
                items,
            });
        }
    }
}

/// Writes the orders and their items. Order ids ascend with created_at across all
/// tenants (ties broken by tenant and generation order, so the order is total and
/// deterministic).
fn number_orders(ds: &mut Dataset, mut pending: Vec<PendingOrder>) {
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
}
