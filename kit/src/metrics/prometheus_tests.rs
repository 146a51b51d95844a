//! The exposition's shape, its golden bytes, and label escaping.
use super::*;
use crate::metrics::routes::Observation;
use crate::metrics::PoolSample;
use actix_web::http::Method;
use std::time::Duration;

fn sample_metrics() -> Metrics {
    let m = Metrics::new();
    for ms in 1..=100u64 {
        m.record_request(
            "/app/products/{id}",
            &Method::GET,
            &Observation {
                status: if ms % 10 == 0 { 404 } else { 200 },
                elapsed: Duration::from_millis(ms),
                statements: ms % 3,
                db_time: Duration::from_millis(1),
                redis_time: Duration::from_micros(200),
                bytes_out: 1_000,
                bytes_uncompressed: Some(4_000),
            },
        );
    }
    m.cache(CacheEvent::Hit);
    m.cache_of(crate::metrics::CacheKind::Memo, CacheEvent::Miss);
    m.invalidation(crate::metrics::InvalidationOutcome::Applied);
    m.limiter(LimiterEvent::Rejected);
    m.describe_limits(vec![
        vec![
            ("kind", "plan".into()),
            ("plan", "basic".into()),
            ("rate", "60 per minute".into()),
            ("key", "tenant".into()),
        ],
        vec![
            ("kind", "route".into()),
            ("method", "POST".into()),
            ("route", "/login \"quoted\"".into()),
            ("rate", "5 per minute".into()),
            ("key", "ip".into()),
        ],
    ]);
    m.register_pool("db", || PoolSample {
        max_size: 16,
        connections: 4,
        idle: 1,
        waiting: Some(0),
        acquire_timeouts: Some(2),
    });
    m
}

/// Every non-comment line is `name{labels} value` with a numeric value, and every
/// sample belongs to a family declared before it.
#[test]
fn every_sample_line_is_well_formed_and_declared() {
    let text = sample_metrics().render_prometheus();
    let mut declared: Vec<(String, String)> = vec![];
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            declared.push((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(
            value == "+Inf" || value.parse::<f64>().is_ok(),
            "value of {line:?}"
        );
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "name of {line:?}"
        );
        let family = declared.last().expect("a sample before any # TYPE");
        let ok = match family.1.as_str() {
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name == format!("{}{s}", family.0)),
            "summary" => {
                name == family.0
                    || name == format!("{}_sum", family.0)
                    || name == format!("{}_count", family.0)
            }
            _ => name == family.0,
        };
        assert!(ok, "{line:?} under family {family:?}");
        if family.1 == "counter" {
            assert!(name.ends_with("_total"), "counter {name} ends with _total");
        }
    }
    let names: Vec<&str> = declared.iter().map(|d| d.0.as_str()).collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names, unique, "one # TYPE per family");
}

#[test]
fn the_exposition_carries_counts_and_buckets_by_route_pattern() {
    let text = sample_metrics().render_prometheus();
    let labels = r#"method="GET",route="/app/products/{id}""#;
    for want in [
        format!("brisk_http_requests_total{{{labels},status=\"2xx\"}} 90"),
        format!("brisk_http_requests_total{{{labels},status=\"4xx\"}} 10"),
        format!("brisk_http_request_duration_seconds_count{{{labels}}} 100"),
        format!("brisk_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 100"),
        format!("brisk_http_request_duration_seconds_bucket{{{labels},le=\"0.01\"}} 10"),
        format!("brisk_http_request_duration_seconds_bucket{{{labels},le=\"0.1\"}} 100"),
        format!("brisk_http_request_statements_bucket{{{labels},le=\"0\"}} 33"),
        format!("brisk_http_request_statements_sum{{{labels}}} 100"),
        "brisk_cache_events_total{kind=\"view\",outcome=\"hit\"} 1".to_string(),
        "brisk_ratelimit_decisions_total{outcome=\"rejected\"} 1".to_string(),
        "brisk_pool_in_use_connections{pool=\"db\"} 3".to_string(),
        "brisk_pool_acquire_timeouts_total{pool=\"db\"} 2".to_string(),
        "brisk_http_requests_in_flight 0".to_string(),
    ] {
        assert!(
            text.lines().any(|l| l == want),
            "missing {want:?} in\n{text}"
        );
    }
    assert!(
        !text.contains("quantile="),
        "one histogram, no summary: quantiles since start do not add across processes"
    );
}

/// The exposition of a fixed sample, byte for byte, up to the `process_*`
/// families (read from this test process, so they vary).
#[test]
fn the_exposition_is_byte_for_byte_the_captured_one() {
    let m = sample_metrics();
    for ms in [3u64, 700, 12_000] {
        m.record_request(
            "/odd/\"q\"",
            &Method::POST,
            &Observation {
                status: 503,
                elapsed: Duration::from_millis(ms),
                statements: 200,
                db_time: Duration::from_micros(1500),
                ..Observation::default()
            },
        );
    }
    m.register_pool("redis", || PoolSample {
        max_size: 1,
        connections: 1,
        idle: 0,
        waiting: None,
        acquire_timeouts: None,
    });
    let rendered = m.render_prometheus();
    let process = rendered.find("# HELP process_").expect("process metrics");
    let text = &rendered[..process];
    // BRISK_BLESS=1 rewrites the captured file after a deliberate change (review
    // the diff of testdata/exposition.prom before committing it).
    if std::env::var_os("BRISK_BLESS").is_some() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/metrics/testdata/exposition.prom"
        );
        std::fs::write(path, text).unwrap();
    }
    assert_eq!(text, include_str!("testdata/exposition.prom"));
}

#[test]
fn declared_actors_show_their_restarts() {
    let m = Metrics::new();
    assert!(!m.render_prometheus().contains("brisk_actor_restarts_total"));
    m.register_actor("warmer");
    m.register_actor("invalidation_retrier");
    m.actor_restarted("warmer");
    let text = m.render_prometheus();
    for want in [
        "# TYPE brisk_actor_restarts_total counter",
        r#"brisk_actor_restarts_total{actor="invalidation_retrier"} 0"#,
        r#"brisk_actor_restarts_total{actor="warmer"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == want),
            "missing {want:?} in\n{text}"
        );
    }
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
    assert_eq!(escape_label("x\ny"), "x\\ny");
    assert!(matches!(
        escape_label("/plain/{id}"),
        std::borrow::Cow::Borrowed(_)
    ));
}
