//! Micro-benchmarks of the measurement hot path: recording one request under its route
//! pattern, the whole middleware around a trivial handler (with and without it), and a
//! `/metrics` render. Run with `cargo bench --bench metrics`.

use actix_web::http::Method;
use actix_web::{test, web, App, HttpResponse};
use brisk_kit::metrics::{AccessLogSettings, Metrics, Observation, RequestMetrics};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::Duration;

const ROUTES: [&str; 12] = [
    "/health",
    "/ready",
    "/v1/catalog",
    "/v1/products",
    "/v1/products/{id}",
    "/v1/products/{id}/summary",
    "/v1/orders",
    "/v1/orders/{id}",
    "/v1/search",
    "/v1/export.csv",
    "/v1/dashboard",
    "/v1/login",
];

fn observation(i: u64) -> Observation {
    Observation {
        status: 200,
        elapsed: Duration::from_micros(200 + i % 5000),
        statements: i % 4,
        db_time: Duration::from_micros(100),
        redis_time: Duration::from_micros(50),
        bytes_out: 2_000 + i % 80_000,
        bytes_uncompressed: Some(8_000 + i % 300_000),
    }
}

fn record(c: &mut Criterion) {
    let metrics = Metrics::new();
    for (i, r) in ROUTES.iter().enumerate() {
        metrics.record_request(r, &Method::GET, &observation(i as u64));
    }
    let mut i = 0u64;
    c.bench_function("record_request (existing route pattern)", |b| {
        b.iter(|| {
            i += 1;
            metrics.record_request(
                black_box("/v1/products/{id}"),
                &Method::GET,
                &observation(i),
            )
        })
    });
    c.bench_function("render_prometheus (12 routes)", |b| {
        b.iter(|| black_box(metrics.render_prometheus().len()))
    });
}

async fn ok(_: web::Path<u64>) -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

fn middleware(c: &mut Criterion) {
    let rt = actix_rt::System::new();
    // Access log off: this measures recording, not the logger.
    let settings = AccessLogSettings {
        enabled: false,
        ..AccessLogSettings::default()
    };
    let metrics = Metrics::new();
    let with = rt.block_on(test::init_service(
        App::new()
            .wrap(RequestMetrics::new(metrics.clone(), settings))
            .service(web::scope("/v1").route("/products/{id}", web::get().to(ok))),
    ));
    let without = rt.block_on(test::init_service(
        App::new().service(web::scope("/v1").route("/products/{id}", web::get().to(ok))),
    ));
    let mut group = c.benchmark_group("GET /v1/products/7 in process");
    group.bench_function("with RequestMetrics", |b| {
        b.iter(|| {
            rt.block_on(async {
                let req = test::TestRequest::get().uri("/v1/products/7").to_request();
                black_box(test::read_body(test::call_service(&with, req).await).await)
            })
        })
    });
    group.bench_function("without", |b| {
        b.iter(|| {
            rt.block_on(async {
                let req = test::TestRequest::get().uri("/v1/products/7").to_request();
                black_box(test::read_body(test::call_service(&without, req).await).await)
            })
        })
    });
    group.finish();
}

criterion_group!(benches, record, middleware);
criterion_main!(benches);
