//! The generation's contract: determinism (pinned checksums), the standard data
//! set's rules, and the demo credentials.

use super::copy::NULL;
use super::fixtures::{fixed_anchor, small};
use super::*;
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};

/// `generate(&small())`'s checksum: the generator's output, pinned so a refactor
/// that changes one byte of the data set fails here.
const SMALL_CHECKSUM: &str = "02b070ffefe0f0acf97087f2477366e5d4b64de1d0a7177dedb496a86a6043b4";
/// The same at scale 1 (the benchmarks' data set).
const SCALE_1_CHECKSUM: &str = "50ff6b45bdf470996732643852cb5eb8fa4b73de37fced6b49a54a6058efc357";

#[test]
fn the_same_scale_and_anchor_give_the_same_rows() {
    let a = generate(&small()).unwrap();
    let b = generate(&small()).unwrap();
    assert_eq!(a.checksum(), b.checksum());
    assert_eq!(a, b);
    assert_eq!(a.checksum(), SMALL_CHECKSUM);
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
    assert_eq!(ds.checksum(), SCALE_1_CHECKSUM);
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
