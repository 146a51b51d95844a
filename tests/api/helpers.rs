//! Test harness: a real brisk server on port 0, in-process, against a fresh
//! database cloned from a migrated and seeded template, through PgBouncer, with
//! its own Redis key prefix. Helpers are named per endpoint.

use brisk::config::ServeArgs;
use brisk::db::seed::{self, SeedOptions};
use brisk::order_api::{self, OrderApiConfig};
use brisk_kit::startup::Services;
use brisk_kit::startup::{Application, Mount};
use brisk_testkit::pgbouncer::PgBouncer;
use brisk_testkit::template::Template;
use diesel::prelude::*;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Client, Method, Response};
use serde_json::Value;
use std::time::Duration;

pub const DIRECT: &str = "postgres://root@127.0.0.1:5432";
pub const BOUNCER: &str = "postgres://root@127.0.0.1:6432";
/// Scale of the test data set: 20 customers, 20 products, 1,000 orders per tenant.
pub const TEST_SCALE: f64 = 0.02;

/// Demo key of tenant `n` (seeded).
pub fn key(n: i64) -> String {
    seed::demo_key(n)
}

/// The migrated and seeded template every test database is cloned from.
static TEMPLATE: Template = Template::new(DIRECT, |url| {
    brisk::db::migrate::migrate(url).expect("migrate the template");
    let options = SeedOptions {
        scale: TEST_SCALE,
        anchor: None,
    };
    seed::seed(url, &options).expect("seed the template");
});

/// A fresh database cloned from the template; returns its name.
pub fn fresh_database() -> String {
    TEMPLATE.fresh()
}

/// A running test server. It runs on a thread of its own with its own actix
/// System, as a separate process would; dropping it stops the server and waits
/// for its workers, so no test leaves connections open behind it.
pub struct TestApp {
    pub base: String,
    pub port: u16,
    /// The operations listener's port, with `--admin-bind`.
    pub admin_port: Option<u16>,
    pub db_name: String,
    pub redis_prefix: String,
    /// The server's shared services (pool, cache, limiter, metrics).
    pub state: Services,
    pub client: Client,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Settings for a test server on `db_name`: port 0, 2 workers, small pool, own Redis prefix.
pub fn test_args(db_name: &str) -> ServeArgs {
    let mut args = ServeArgs::from_env_and_defaults();
    args.server.bind = "127.0.0.1:0".parse().unwrap();
    args.server.workers = 2;
    args.server.secret = "test-secret".into();
    args.server.shutdown_timeout_secs = 1;
    args.database.database_url = format!("{BOUNCER}/{db_name}");
    args.database.direct_database_url = format!("{DIRECT}/{db_name}");
    args.database.pool_size = 4;
    args.database.skip_budget_check = true;
    args.redis.redis_prefix = brisk_kit::testing::unique_prefix();
    // The tests count statements from `Server-Timing` (off by default).
    args.metrics.server_timing = true;
    args
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server on a fresh database; `configure` adjusts its settings first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    let db_name = tokio::task::spawn_blocking(fresh_database)
        .await
        .expect("create a test database");
    spawn_app_on(&db_name, configure).await
}

type Started = Result<(u16, Option<u16>, Services, actix_web::dev::ServerHandle), String>;

/// A PgBouncer of the test's own (at most `bouncer_pool` server connections) and a
/// server on a fresh database whose pool of `pool_size` goes through it.
pub async fn spawn_app_behind_own_pgbouncer(
    bouncer_pool: u32,
    pool_size: u32,
) -> (PgBouncer, TestApp) {
    let logs = std::env::temp_dir();
    let bouncer = tokio::task::spawn_blocking(move || PgBouncer::start(&logs, bouncer_pool))
        .await
        .unwrap();
    let port = bouncer.port;
    let app = spawn_app_with(move |a| {
        a.database.database_url = a
            .database
            .database_url
            .replace(":6432/", &format!(":{port}/"));
        a.database.pool_size = pool_size;
    })
    .await;
    (bouncer, app)
}

/// Starts a server on an existing database (a second "process" of one deployment).
pub async fn spawn_app_on(db_name: &str, configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    spawn_mounted(db_name, configure, order_api::mount).await
}

/// Starts a server on an existing database with `mount` as the application (the
/// order API, or the order API with additions).
pub async fn spawn_mounted(
    db_name: &str,
    configure: impl FnOnce(&mut ServeArgs),
    mount: impl FnOnce(&Services, OrderApiConfig) -> Mount + Send + 'static,
) -> TestApp {
    let mut args = test_args(db_name);
    configure(&mut args);
    let server_args = args.clone();
    let (tx, rx) = std::sync::mpsc::channel::<Started>();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let api = server_args.order_api_config();
            let config = server_args.kit_config();
            match Application::build(config, move |s| mount(s, api)).await {
                Ok(app) => {
                    let started = (
                        app.port(),
                        app.admin_port(),
                        app.services().clone(),
                        app.handle(),
                    );
                    let _ = tx.send(Ok(started));
                    let _ = app.run_until_stopped().await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })
    });
    let (port, admin_port, state, handle) = tokio::task::spawn_blocking(move || rx.recv())
        .await
        .expect("join the start-up")
        .expect("the server thread ended before starting")
        .expect("build the app");
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        port,
        admin_port,
        db_name: db_name.to_string(),
        redis_prefix: args.redis.redis_prefix.clone(),
        state,
        client: Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        handle,
        thread: Some(thread),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The command is sent at once; the server's own thread carries it out.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A direct (not pooled, not through PgBouncer) connection to the test database.
    pub fn db(&self) -> PgConnection {
        PgConnection::establish(&format!("{DIRECT}/{}", self.db_name))
            .expect("connect to the test database")
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request failed")
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Response {
        self.request(Method::GET, path, key, None).await
    }

    pub async fn get_json(&self, path: &str, tenant: i64) -> (u16, Value) {
        let resp = self.get(path, Some(&key(tenant))).await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn put_product(&self, tenant: i64, id: i64, body: &Value) -> (u16, Value) {
        let resp = self
            .request(
                Method::PUT,
                &format!("/api/products/{id}"),
                Some(&key(tenant)),
                Some(body),
            )
            .await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_order(
        &self,
        tenant: i64,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .post(self.url("/api/orders"))
            .bearer_auth(key(tenant))
            .json(body);
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.expect("request failed");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// The statement count a response reports in `Server-Timing`.
pub fn statements(resp: &Response) -> u64 {
    resp.headers()
        .get_all("server-timing")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|part| {
            let part = part.trim();
            if !part.starts_with("db;") {
                return None;
            }
            let desc = part.split("desc=\"").nth(1)?;
            desc.split(' ').next()?.parse().ok()
        })
        .expect("a Server-Timing db entry")
}

/// The poller (`brisk_testkit::wait`): true when `check` held within `timeout`.
pub use brisk_testkit::wait::eventually as wait_until;

/// Ids of the products of a tenant, via SQL.
pub fn product_ids(conn: &mut PgConnection, tenant: i64) -> Vec<i64> {
    use brisk::db::schema::products::dsl::*;
    products
        .filter(tenant_id.eq(tenant))
        .order(id)
        .select(id)
        .load(conn)
        .unwrap()
}

/// Ids of the customers of a tenant, via SQL.
pub fn customer_ids(conn: &mut PgConnection, tenant: i64) -> Vec<i64> {
    use brisk::db::schema::customers::dsl::*;
    customers
        .filter(tenant_id.eq(tenant))
        .order(id)
        .select(id)
        .load(conn)
        .unwrap()
}

/// The shared test proxy (`brisk_kit::testing`), here in front of the machine's Redis.
pub use brisk_kit::testing::TcpProxy as RedisProxy;
