//! `brisk doctor` (the binary) against test servers after a little traffic: a sound
//! deployment gets no ✘, and each broken one turns its own rows ✘ and no others.

use crate::helpers::*;
use brisk::config::ServeArgs;
use brisk_kit::peers::registry::Registry;
use brisk_kit::peers::DEFAULT_RETENTION;
use brisk_kit::services::Store;
use brisk_testkit::nginx::Nginx;
use std::collections::BTreeSet;
use std::time::Duration;

/// Runs `brisk doctor --json` against the servers (the first is the front door,
/// each one's `/metrics` is read) on `db`; the rows and the exit status.
async fn doctor(apps: &[&TestApp], db: &str) -> (Vec<serde_json::Value>, bool) {
    doctor_with(apps, db, &[]).await
}

/// [`doctor`] with more flags.
pub async fn doctor_with(
    apps: &[&TestApp],
    db: &str,
    extra: &[&str],
) -> (Vec<serde_json::Value>, bool) {
    doctor_through(&apps[0].base, apps, db, extra).await
}

/// [`doctor_with`] probing through the front door `front` (a proxy) instead of the
/// first server.
async fn doctor_through(
    front: &str,
    apps: &[&TestApp],
    db: &str,
    extra: &[&str],
) -> (Vec<serde_json::Value>, bool) {
    let mut args = vec!["--url".to_string(), front.to_string(), "--ops".into()];
    args.extend(apps.iter().map(|a| a.base.clone()));
    args.extend(extra.iter().map(|a| a.to_string()));
    run_doctor(db, args).await
}

/// `brisk doctor --json --database-url <db> ARGS`: the rows and whether it exited 0.
async fn run_doctor(db: &str, args: Vec<String>) -> (Vec<serde_json::Value>, bool) {
    let mut args = args;
    args.splice(0..0, ["doctor".to_string(), "--json".into()]);
    args.extend(["--database-url".into(), format!("{DIRECT}/{db}")]);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_brisk"))
            .args(&args)
            .output()
            .expect("run brisk doctor")
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (rows, out.status.success())
}

/// The names of the rows with verdict ✘.
pub fn failed(rows: &[serde_json::Value]) -> BTreeSet<String> {
    rows.iter()
        .filter(|r| r["verdict"] == "fail")
        .map(|r| r["row"].as_str().unwrap_or("").to_string())
        .collect()
}

/// A few reads (cached views, a memoized summary, lists) and one write, so the rows
/// that need traffic have some.
async fn traffic(app: &TestApp) {
    let product = {
        let mut db = app.db();
        tokio::task::spawn_blocking(move || product_ids(&mut db, 2)[0])
            .await
            .unwrap()
    };
    let summary = format!("/api/products/{product}/summary");
    for path in [
        "/api/catalog",
        "/api/orders?per_page=5",
        "/api/products?per_page=5",
        summary.as_str(),
    ] {
        for _ in 0..3 {
            assert_eq!(app.get_json(path, 2).await.0, 200, "{path}");
        }
    }
    let stock = serde_json::json!({"stock": 500});
    assert_eq!(app.put_product(2, product, &stock).await.0, 200);
}

/// The flags a test doctor gets: the seeded demo key of tenant 2 for the HTTP caching
/// probe, and a table-size threshold at the test data's scale (50 times smaller
/// than `make run`'s).
fn test_flags(key: &str) -> [&str; 4] {
    ["--api-key", key, "--seq-scan-rows", "1000"]
}

pub fn set(rows: &[&str]) -> BTreeSet<String> {
    rows.iter().map(|r| r.to_string()).collect()
}

#[actix_web::test]
async fn a_sound_server_gets_no_failed_row_and_exit_status_zero() {
    let app = spawn_app().await;
    traffic(&app).await;
    let key = key(2);
    let (rows, ok) = doctor_with(&[&app], &app.db_name, &test_flags(&key)).await;
    assert_eq!(failed(&rows), set(&[]), "{rows:#?}");
    assert!(ok);
    let verdict = |name: &str| {
        let row = rows.iter().find(|r| r["row"] == name).unwrap();
        (
            row["verdict"].as_str().unwrap_or("").to_string(),
            row.to_string(),
        )
    };
    for name in [
        "indexes",
        "views and memoized calls",
        "invalidation",
        "HTTP caching",
        "defaults and route limits",
    ] {
        let (v, row) = verdict(name);
        assert_eq!(v, "pass", "{row}");
    }
    let secret = rows
        .iter()
        .find(|r| r["row"] == "cursor secret set")
        .unwrap();
    assert_eq!(
        secret["verdict"], "pass",
        "the test servers' own secret: {secret}"
    );
    assert!(rows.len() >= 28, "every checklist row: {}", rows.len());
}

#[actix_web::test]
async fn two_processes_on_the_memory_store_fail_both_store_rows_and_nothing_else() {
    let memory = |a: &mut ServeArgs| a.redis.store = Store::Memory;
    let one = spawn_app_with(memory).await;
    let two = spawn_app_on(&one.db_name, memory).await;
    traffic(&one).await;
    let (rows, ok) = doctor(&[&one, &two], &one.db_name).await;
    assert_eq!(
        failed(&rows),
        set(&["the store is shared", "shared storage"]),
        "{rows:#?}"
    );
    assert!(!ok, "a ✘ row makes the exit status non-zero");
}

#[actix_web::test]
async fn without_ops_the_doctor_reads_every_process_registered_in_redis() {
    let one = spawn_app().await;
    let prefix = one.redis_prefix.clone();
    let two = spawn_app_on(&one.db_name, move |a| a.redis.redis_prefix = prefix).await;
    let registry = Registry::new(one.state.redis.clone(), DEFAULT_RETENTION);
    let both = brisk_testkit::wait::wait_until(Duration::from_secs(30), || async {
        registry.entries().await.map(|e| e.len()).unwrap_or(0) == 2
    })
    .await;
    assert!(both.is_some(), "both processes registered");
    traffic(&one).await;
    traffic(&two).await;
    let args = [
        "--url",
        one.base.as_str(),
        "--redis-prefix",
        one.redis_prefix.as_str(),
    ];
    let (rows, _) = run_doctor(&one.db_name, args.map(String::from).to_vec()).await;
    let histograms = rows
        .iter()
        .find(|r| r["row"] == "p95/p99 per route")
        .unwrap();
    assert!(
        histograms["evidence"]
            .as_str()
            .unwrap_or("")
            .ends_with("from 2 process(es) (found through the registry in Redis)"),
        "{histograms}"
    );
    assert_eq!(failed(&rows), set(&[]), "{rows:#?}");
}

#[actix_web::test]
async fn trusting_a_proxy_hop_without_a_proxy_fails_the_client_address_row_only() {
    let app = spawn_app_with(|a| a.server.trusted_hops = 1).await;
    traffic(&app).await;
    let (rows, _) = doctor(&[&app], &app.db_name).await;
    assert_eq!(failed(&rows), set(&["real client address"]), "{rows:#?}");
}

#[actix_web::test]
async fn a_process_behind_nginx_trusting_no_hop_fails_the_client_address_row_only() {
    let app = spawn_app_with(|a| a.server.trusted_hops = 0).await;
    traffic(&app).await;
    let upstream = app.port;
    let nginx = tokio::task::spawn_blocking(move || {
        let dir = std::env::temp_dir().join(format!("brisk-doctor-nginx-{upstream}"));
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf"))
                .expect("read deploy/nginx.conf");
        Nginx::start(&dir, &template, &[upstream])
    })
    .await
    .unwrap();
    let (rows, _) = doctor_through(&nginx.base(), &[&app], &app.db_name, &[]).await;
    assert_eq!(failed(&rows), set(&["real client address"]), "{rows:#?}");
    let address = rows
        .iter()
        .find(|r| r["row"] == "real client address")
        .unwrap();
    assert!(
        address["evidence"]
            .as_str()
            .unwrap_or("")
            .contains("brisk sees the proxy's address"),
        "{address}"
    );
}

/// PostgreSQL's `max_connections` on the shared server.
async fn max_connections() -> u32 {
    let out = tokio::task::spawn_blocking(|| {
        std::process::Command::new("psql")
            .args([
                &format!("{DIRECT}/postgres"),
                "-Atc",
                "show max_connections",
            ])
            .output()
            .expect("run psql")
    })
    .await
    .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("max_connections")
}

#[actix_web::test]
async fn a_pgbouncer_pool_over_max_connections_fails_the_budget_row_only() {
    // A PgBouncer of the test's own whose pool alone is more than PostgreSQL admits.
    let over = max_connections().await + 1;
    let (bouncer, app) = spawn_app_behind_own_pgbouncer(over, 4).await;
    let port = bouncer.port;
    traffic(&app).await;
    let admin = format!("postgres://root@127.0.0.1:{port}/pgbouncer");
    let flags = ["--pgbouncer-admin-url", admin.as_str()];
    let (rows, _) = doctor_with(&[&app], &app.db_name, &flags).await;
    assert_eq!(failed(&rows), set(&["connection budget"]), "{rows:#?}");
    let budget = rows
        .iter()
        .find(|r| r["row"] == "connection budget")
        .unwrap();
    let evidence = budget["evidence"].as_str().unwrap_or("");
    assert!(
        evidence.contains(&format!("PgBouncer {over} + "))
            && evidence.contains("> max_connections"),
        "{budget}"
    );
}

#[actix_web::test]
async fn a_pool_bigger_than_pgbouncers_fails_the_budget_row_only() {
    let app = spawn_app_with(|a| a.database.pool_size = 1000).await;
    traffic(&app).await;
    let (rows, _) = doctor(&[&app], &app.db_name).await;
    assert_eq!(failed(&rows), set(&["connection budget"]), "{rows:#?}");
}

#[actix_web::test]
async fn compression_turned_off_fails_the_compression_row_only() {
    let app = spawn_app_with(|a| a.server.compression = false).await;
    traffic(&app).await;
    let (rows, _) = doctor(&[&app], &app.db_name).await;
    assert_eq!(failed(&rows), set(&["compressed"]), "{rows:#?}");
}

#[actix_web::test]
async fn the_development_cursor_secret_is_named_a_warning_on_loopback() {
    let app = spawn_app_with(|a| a.server.secret = brisk::config::server::DEV_SECRET.into()).await;
    traffic(&app).await;
    let (rows, _) = doctor(&[&app], &app.db_name).await;
    let secret = rows
        .iter()
        .find(|r| r["row"] == "cursor secret set")
        .unwrap();
    assert_eq!(secret["verdict"], "warn", "{secret}");
    assert_eq!(
        failed(&rows),
        set(&[]),
        "on loopback it is a warning, not a failure"
    );
}

#[actix_web::test]
async fn a_dropped_index_fails_the_indexes_row_only_and_names_the_table() {
    let app = spawn_app().await;
    let mut db = app.db();
    tokio::task::spawn_blocking(move || {
        use diesel::connection::SimpleConnection;
        db.batch_execute("DROP INDEX order_items_order_id_idx; ANALYZE order_items")
            .expect("drop the index");
    })
    .await
    .unwrap();
    traffic(&app).await;
    let key = key(2);
    let (rows, _) = doctor_with(&[&app], &app.db_name, &test_flags(&key)).await;
    assert_eq!(failed(&rows), set(&["indexes"]), "{rows:#?}");
    let indexes = rows.iter().find(|r| r["row"] == "indexes").unwrap();
    assert!(
        indexes["evidence"]
            .as_str()
            .unwrap_or("")
            .contains("order_items ("),
        "{indexes}"
    );
}

#[actix_web::test]
async fn a_protected_route_exempt_from_limits_fails_the_route_limits_row_only() {
    let app =
        spawn_app_with(|a| a.ratelimit.rate_limit_exempt = vec!["GET /api/search".into()]).await;
    traffic(&app).await;
    let key = key(2);
    let (rows, _) = doctor_with(&[&app], &app.db_name, &test_flags(&key)).await;
    assert_eq!(
        failed(&rows),
        set(&["defaults and route limits"]),
        "{rows:#?}"
    );
    let limits = rows
        .iter()
        .find(|r| r["row"] == "defaults and route limits")
        .unwrap();
    assert!(
        limits["evidence"]
            .as_str()
            .unwrap_or("")
            .contains("exempt from every limit: GET /api/search"),
        "{limits}"
    );
}
