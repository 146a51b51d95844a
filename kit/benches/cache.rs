//! Cost of the cache's pure steps on every hit: query normalization and key
//! building, envelope decode (header only and whole), envelope encode and ETag.
//!
//! `cargo bench --bench cache`

use brisk_kit::cache::envelope::{etag_of, Envelope};
use brisk_kit::cache::keys::{normalize_query, view_keys};
use brisk_kit::cache::Scope;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    c.bench_function("normalize_query (3 params, reordered)", |b| {
        b.iter(|| normalize_query(black_box("limit=5&q=amber%20lamp&page=2"), None))
    });
    c.bench_function("view_keys (tenant scope)", |b| {
        b.iter(|| {
            view_keys(
                black_box("brisk"),
                Scope::Tenant(2),
                "search",
                "/v1/search",
                black_box("limit=20&q=amber"),
            )
        })
    });
    // A catalog-sized payload (~84 KB) and a summary-sized one.
    let catalog = Bytes::from(vec![b'x'; 84 * 1024]);
    let summary = Bytes::from_static(br#"{"product_id":7,"units_sold":1234,"revenue_cents":5678900,"order_count":321,"last_ordered_at":"2026-11-26T02:41:37.057764Z"}"#);
    for (name, payload) in [("catalog", catalog), ("summary", summary)] {
        let encoded = Envelope::new(3, 1_800_000_000_000, payload.clone()).encode();
        c.bench_function(&format!("envelope encode ({name})"), |b| {
            b.iter(|| Envelope::new(3, 1_800_000_000_000, black_box(payload.clone())).encode())
        });
        c.bench_function(&format!("envelope decode ({name})"), |b| {
            b.iter(|| Envelope::decode(black_box(&encoded), false))
        });
        c.bench_function(&format!("envelope decode header only ({name})"), |b| {
            b.iter(|| Envelope::decode(black_box(&encoded), true))
        });
        c.bench_function(&format!("etag_of ({name})"), |b| {
            b.iter(|| etag_of(black_box(&payload)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
