//! Cost of one rate-limit decision: the memory store (`--store memory`, and the `local`
//! fallback) and, when Redis answers on 127.0.0.1:6379, the Redis store (one EVALSHA
//! round trip on the shared multiplexed connection).
//!
//! `cargo bench --bench limiter`

use actix_web::http::Method;
use brisk_kit::caller::AuthContext;
use brisk_kit::caller::PlanName;
use brisk_kit::metrics::events::Metrics;

/// A plan of this test's own (the kit names none).
const PLAN_BASIC: PlanName = PlanName("basic");
use brisk_kit::ratelimit::{parse_limits, Limiter, RateLimitConfig};
use brisk_kit::redis::{Redis, RedisConfig};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::net::IpAddr;

fn limiter(redis: Option<Redis>) -> Limiter {
    // Large enough that the bench measures admissions, small enough to keep logs bounded.
    let config = RateLimitConfig::default()
        .with_plan(PLAN_BASIC, parse_limits("100000 per second").unwrap());
    Limiter::new(config, redis, Metrics::new()).unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ip: IpAddr = "203.0.113.9".parse().unwrap();
    let auth = AuthContext {
        tenant_id: 1,
        plan: PLAN_BASIC,
        key_id: 1,
        user_id: None,
    };

    let mem = limiter(None);
    c.bench_function("memory: limits_for + decide (plan)", |b| {
        b.iter(|| {
            let limits = mem
                .limits_for(&Method::GET, "/v1/products", Some(&auth), ip)
                .unwrap();
            black_box(rt.block_on(mem.decide(&limits)).allowed)
        })
    });
    let export = mem
        .limits_for(&Method::GET, "/v1/export.csv", Some(&auth), ip)
        .unwrap();
    c.bench_function("memory: decide (plan + export, refused)", |b| {
        b.iter(|| black_box(rt.block_on(mem.decide(&export)).allowed))
    });

    let config = RedisConfig {
        prefix: format!("bench-rl-{}", uuid::Uuid::new_v4().simple()),
        ..RedisConfig::default()
    };
    // The connection manager spawns its driver on the current runtime.
    let _enter = rt.enter();
    let redis = Redis::new(&config).unwrap();
    if rt.block_on(redis.ping()) {
        let red = limiter(Some(redis));
        let limits = red
            .limits_for(&Method::GET, "/v1/products", Some(&auth), ip)
            .unwrap();
        c.bench_function("redis: decide (plan, one round trip)", |b| {
            b.iter(|| black_box(rt.block_on(red.decide(&limits)).allowed))
        });
    } else {
        eprintln!("Redis not reachable: skipping the Redis bench");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
