//! The kit's start-up: builds the process's shared services once (pool, Redis,
//! metrics, limiter, cache, warming scheduler), mounts the application's handler set
//! on every worker's `App`, then binds the API listener and, with `admin_bind`, a
//! second listener for the operations endpoints. Every accepted socket is under the
//! slow-client deadlines ([`crate::http::deadline`]). Tests boot the same code
//! through [`Application::build`] on port 0.
//!
//! The operations listener is a server of its own (one worker, no signal handlers):
//! SIGTERM's drain pauses the API server's accept loop, and actix pauses every
//! listener of a server at once, so a load balancer probing `/ready` there during
//! the drain would get no answer. On its own server it keeps answering (503
//! `draining`) until the API server has stopped.

use crate::authenticate::Authenticate;
use crate::cache::prefetch::CacheRead;
use crate::cache::CacheConfig;
use crate::db::budget::{self, BudgetConfig};
use crate::drain::{self, Drain};
use crate::http::deadline::{self, ClientDeadlines};
use crate::http::middleware::auth::Protection;
use crate::http::middleware::prefetch::{PrefetchFn, PrefetchRequest, RoutePrefetches};
use crate::http::precompressed::Precompressed;
use crate::http::Routes;
use crate::metrics::logging::LineFormat;
use crate::metrics::MetricsConfig;
use crate::peers::{Peers, PeersConfig};
use crate::ratelimit::RateLimitConfig;
use crate::redis::RedisConfig;
pub use crate::services::{Services, Store};
use crate::warm::{Shutdown, WarmConfig, Warmer};
use crate::{db::config::DbConfig, http};
use actix::Addr;
use actix_web::dev::{Server, ServerHandle};
use actix_web::web;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// A request head must be complete this long after its first byte (a connection's
/// first request: after the accept), else 408.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A request body must be complete this long after its head, else 408.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// An idle keep-alive connection is closed after this long.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(5);

/// The listeners and their workers.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address of the API listener (port 0: any free port).
    pub bind: SocketAddr,
    /// Address of the operations listener (`/metrics`, `/dashboard`, `/ready` and
    /// the application's operations routes); `None`: they are served on the API listener.
    pub admin_bind: Option<SocketAddr>,
    /// HTTP worker threads of this process.
    pub workers: usize,
    /// How long SIGTERM waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Plain text or JSON log lines.
    pub log_format: LineFormat,
    /// See [`DEFAULT_HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// See [`DEFAULT_BODY_TIMEOUT`].
    pub body_timeout: Duration,
    /// See [`DEFAULT_KEEP_ALIVE`].
    pub keep_alive: Duration,
    /// Responses compressed when the client accepts it (gzip, br); off only to
    /// measure its cost or when a proxy in front compresses.
    pub compression: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_bind: None,
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            shutdown_timeout: Duration::from_secs(30),
            log_format: LineFormat::Text,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            keep_alive: DEFAULT_KEEP_ALIVE,
            compression: true,
        }
    }
}

impl ServerConfig {
    /// The deadlines every accepted socket is under.
    pub fn client_deadlines(&self) -> ClientDeadlines {
        ClientDeadlines {
            header: self.header_timeout,
            body: self.body_timeout,
            keep_alive: self.keep_alive,
        }
    }
}

/// Everything the kit is built from, one config per subsystem.
#[derive(Debug, Clone, Default)]
pub struct KitConfig {
    /// The listener.
    pub server: ServerConfig,
    /// The database pool.
    pub db: DbConfig,
    /// The connection budget checked before serving (`None`: not checked).
    pub budget: Option<BudgetConfig>,
    /// Redis.
    pub redis: RedisConfig,
    /// Where cache and limiter state lives.
    pub store: Store,
    /// The cache.
    pub cache: CacheConfig,
    /// The warming scheduler (`None`: not run in this process).
    pub warm: Option<WarmConfig>,
    /// Plans, route limits and failure policies.
    pub ratelimit: RateLimitConfig,
    /// Measurement and the access log.
    pub metrics: MetricsConfig,
    /// The process registry and the live page's cluster view.
    pub peers: PeersConfig,
    /// The application's own `brisk_config_info` labels (e.g. whether its secret is
    /// the development default), after the kit's.
    pub info: Vec<(&'static str, String)>,
}

impl KitConfig {
    /// The settings a deployment check needs, as `brisk_config_info` labels: the
    /// store, the process and worker counts, the pool's size and recycling, where the
    /// operations endpoints are served, the trusted proxy hops, the access log.
    pub fn info_labels(&self) -> Vec<(&'static str, String)> {
        let db = &self.db;
        let store = match self.store {
            Store::Redis => "redis",
            Store::Memory => "memory",
        };
        // Known from the budget check's settings; without the check, not told.
        let processes = self
            .budget
            .as_ref()
            .map_or_else(|| "unknown".to_string(), |b| b.processes.to_string());
        let operations = match self.server.admin_bind {
            Some(addr) => addr.to_string(),
            None => "api".to_string(),
        };
        vec![
            ("store", store.to_string()),
            ("processes", processes),
            ("workers", self.server.workers.to_string()),
            ("api_bind", self.server.bind.to_string()),
            ("operations", operations),
            ("trusted_hops", self.ratelimit.trusted_hops.to_string()),
            ("pool_size", db.pool_size.to_string()),
            (
                "pool_max_lifetime_seconds",
                db.max_lifetime.as_secs().to_string(),
            ),
            (
                "pool_idle_timeout_seconds",
                db.idle_timeout.as_secs().to_string(),
            ),
            // The pool checks each connection on check-out (`db::pool`).
            ("pool_test_on_checkout", "true".to_string()),
            ("access_log", self.metrics.access_log.enabled.to_string()),
            ("compression", self.server.compression.to_string()),
            ("metrics_middleware", self.metrics.middleware.to_string()),
        ]
        .into_iter()
        .chain(self.info.iter().cloned())
        .collect()
    }
}

/// What an application hands the kit: its handler set, which of its routes need a
/// key and how a key is checked, and its own operations endpoints.
#[derive(Clone)]
pub struct Mount {
    routes: Arc<Routes>,
    protection: Option<Protection>,
    operations: Vec<Arc<Routes>>,
    prefetches: Vec<(String, PrefetchFn)>,
}

impl Mount {
    /// A handler set (an actix `ServiceConfig` function); no route needs a key.
    pub fn new(routes: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static) -> Self {
        Self {
            routes: Arc::new(routes),
            protection: None,
            operations: Vec::new(),
            prefetches: Vec::new(),
        }
    }

    /// Declares the cache read the handler of the route `pattern` makes (built with
    /// `Cache::view_read` or `Cache::memo_read` from the same key the handler uses),
    /// so the guard sends it with the limiter's decision: a cached hit then costs one
    /// Redis round trip, not two. A read the handler does not make is only wasted.
    /// Repeatable, one per pattern.
    pub fn prefetch(
        mut self,
        pattern: &str,
        read: impl Fn(&PrefetchRequest<'_>) -> Option<CacheRead> + Send + Sync + 'static,
    ) -> Self {
        self.prefetches.push((pattern.to_string(), Arc::new(read)));
        self
    }

    /// Operations endpoints of the application (e.g. `/openapi.json`, `/docs`),
    /// served next to the kit's (`/ready`, `/metrics`, `/dashboard`): on the
    /// operations listener when `admin_bind` is set, else on the API listener.
    /// Repeatable.
    pub fn operations(
        mut self,
        routes: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
    ) -> Self {
        self.operations.push(Arc::new(routes));
        self
    }

    /// Routes whose pattern starts with `prefix`, except the `public` ones, need a
    /// key, which `authenticator` resolves to the request's caller.
    pub fn protect(
        mut self,
        prefix: &str,
        public: &[&str],
        authenticator: impl Authenticate,
    ) -> Self {
        self.protection = Some(Protection::new(Arc::new(authenticator), prefix, public));
        self
    }
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    admin_port: Option<u16>,
    server: Server,
    /// The operations listener's own server, stopped after the API server.
    admin: Option<Server>,
    services: Services,
    warmer: Option<Addr<Warmer>>,
    peers: Peers,
}

impl Application {
    /// Builds the services, lets `mount` register the application on them, and
    /// binds the listener. Must run inside an actix System (`actix_web::main`,
    /// `actix_web::test`), which the actors need.
    pub async fn build(
        config: KitConfig,
        mount: impl FnOnce(&Services) -> Mount,
    ) -> Result<Self, String> {
        let services = Services::build(
            &config.db,
            &config.redis,
            config.store,
            &config.cache,
            &config.ratelimit,
            &config.metrics,
        )?;
        services.metrics.describe(config.info_labels());
        (services.metrics).describe_limits(services.limiter.policy().info_series());
        let variants = match config.server.compression {
            true => Precompressed::default(),
            false => Precompressed::disabled(),
        };
        let mount = mount(&services);
        if let Some(protection) = &mount.protection {
            protection.check_limits(services.limiter.policy())?;
        }
        // One warming scheduler per process, started after the application has
        // registered its recipes, so it preloads them before traffic.
        let warmer = config
            .warm
            .filter(|_| config.cache.enabled)
            .map(|warm| Warmer::start_with(services.cache.clone(), warm));
        // The registry needs shared Redis; with the memory store the process is alone.
        let shared = (services.store == Store::Redis).then(|| services.redis.clone());
        let peers = Peers::new(shared, services.metrics.clone(), config.peers.clone());
        let drain = Drain::default();
        let (server, admin, port, admin_port) = listen(
            &config.server,
            &services,
            variants,
            mount,
            &config.metrics,
            (&drain, &peers),
        )?;
        // Others reach this process's histograms where its operations endpoints are.
        let ops_ip = config.server.admin_bind.unwrap_or(config.server.bind).ip();
        peers.set_address(SocketAddr::new(ops_ip, admin_port.unwrap_or(port)));
        actix_web::rt::spawn(peers.clone().run_heartbeat(drain));
        Ok(Self {
            port,
            admin_port,
            server,
            admin,
            services,
            warmer,
            peers,
        })
    }

    /// The bound port of the API listener.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound port of the operations listener, when there is one.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin_port
    }

    /// The process's shared services.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Stops the API server (gracefully with `stop(true)`); the operations listener
    /// stops after it ([`Application::run_until_stopped`]).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; SIGTERM/SIGINT drain the connections first (`drain`),
    /// then the pending invalidations and the access log are flushed. The operations
    /// listener answers (`/ready`: 503 `draining`) until the API server has stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = match self.admin {
            Some(admin) => {
                let admin_handle = admin.handle();
                let admin = actix_web::rt::spawn(admin);
                let result = self.server.await;
                admin_handle.stop(true).await;
                let _ = admin.await;
                result
            }
            None => self.server.await,
        };
        // Stopped without a drain (a handle's stop): leave the registry all the same.
        self.peers.deregister().await;
        // Invalidations still pending would leave other processes serving old values.
        let left = self
            .services
            .cache
            .flush_invalidations(Duration::from_secs(2))
            .await;
        if left > 0 {
            log::warn!("{left} cache invalidations could not reach Redis before exit");
        }
        if let Some(warmer) = self.warmer {
            let _ = warmer.send(Shutdown).await;
        }
        // The last requests' access lines are still in the writer's queue or buffer.
        crate::metrics::access_writer::flush_global(Duration::from_secs(2));
        result
    }
}

/// The API server and, with `admin_bind`, the operations listener's own server.
type Servers = (Server, Option<Server>, u16, Option<u16>);

/// Binds the API listener and, with `admin_bind`, the operations listener, and
/// starts serving them (the API on its workers, the operations listener on one
/// worker of its own); returns both servers and both ports.
fn listen(
    server: &ServerConfig,
    services: &Services,
    variants: Precompressed,
    mount: Mount,
    metrics_config: &MetricsConfig,
    (drain, peers): (&Drain, &Peers),
) -> Result<Servers, String> {
    let (listener, api_addr) = bind(server.bind, "--bind")?;
    let admin = server
        .admin_bind
        .map(|addr| bind(addr, "--admin-bind"))
        .transpose()?;
    let deadlines = server.client_deadlines();
    // SIGTERM drains the API connections first, then actix stops (`drain`).
    let operations = operations(services, peers, &mount.operations, drain);
    let (drain_for, stop_secs) = drain::split_timeout(server.shutdown_timeout);
    let stop_signal = (listener.try_clone())
        .and_then(|l| drain.on_signal(l, drain_for))
        .map_err(|e| format!("signal handlers: {e}"))?;
    let mut builder = actix_server::Server::build()
        .workers(server.workers)
        .shutdown_signal(stop_signal)
        .shutdown_timeout(stop_secs);
    // A graceful stop closes idle keep-alive connections at once.
    let signal = builder.graceful_shutdown_signal();
    let stopping = move || {
        let signal = signal.clone();
        async move { signal.notified().await }
    };
    let shared = services.clone();
    let metrics_config = metrics_config.clone();
    let api_operations = admin.is_none().then(|| operations.clone());
    let api_drain = drain.clone();
    let prefetches = RoutePrefetches::new(services.cache.clone(), &mount.prefetches);
    builder = builder
        .listen("api", listener, move || {
            let per_request = api_drain.worker();
            let app = http::build_app(
                &shared,
                &variants,
                &*mount.routes,
                api_operations.as_deref(),
                mount.protection.clone(),
                &prefetches,
                &metrics_config,
            )
            // One outer wrapper: the drain's accounting around the slow-client deadlines.
            .wrap_fn(move |req, srv| {
                per_request
                    .clone()
                    .request(http::middleware::deadline::deadlines(req, srv))
            });
            let http = deadline::http1(app, deadlines, api_addr, stopping.clone());
            api_drain.count_connections(http)
        })
        .map_err(|e| format!("--bind: {e}"))?;
    let admin_port = admin.as_ref().map(|(_, addr)| addr.port());
    let admin = admin
        .map(|(listener, addr)| admin_server(listener, addr, operations, deadlines, stop_secs))
        .transpose()?;
    let server = builder.run();
    drain.set_server(server.handle());
    Ok((server, admin, api_addr.port(), admin_port))
}

/// The operations listener's server: one worker, no signal handlers of its own (it
/// is stopped once the API server has stopped, [`Application::run_until_stopped`]).
fn admin_server(
    listener: TcpListener,
    addr: SocketAddr,
    operations: Arc<Routes>,
    deadlines: ClientDeadlines,
    stop_secs: u64,
) -> Result<Server, String> {
    let builder = actix_server::Server::build()
        .workers(1)
        .disable_signals()
        .shutdown_timeout(stop_secs);
    let signal = builder.graceful_shutdown_signal();
    let stopping = move || {
        let signal = signal.clone();
        async move { signal.notified().await }
    };
    let builder = builder
        .listen("admin", listener, move || {
            let app = http::build_admin_app(&*operations);
            deadline::http1(app, deadlines, addr, stopping.clone())
        })
        .map_err(|e| format!("--admin-bind: {e}"))?;
    Ok(builder.run())
}

/// Binds `addr` (`flag` names it in the error) and reads back the bound address.
fn bind(addr: SocketAddr, flag: &str) -> Result<(TcpListener, SocketAddr), String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("{flag} {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| format!("{flag}: {e}"))?;
    Ok((listener, bound))
}

/// The operations endpoints: the kit's (`/ready`, `/metrics`, `/dashboard` and the
/// cluster view) and the
/// application's, as one handler set for whichever listener serves them.
fn operations(
    services: &Services,
    peers: &Peers,
    application: &[Arc<Routes>],
    drain: &Drain,
) -> Arc<Routes> {
    let services = services.clone();
    let peers = peers.clone();
    let application = application.to_vec();
    let drain = drain.clone();
    Arc::new(move |cfg: &mut web::ServiceConfig| {
        http::ops::configure_operations(cfg, &services, &drain);
        crate::metrics::endpoints(services.metrics.clone())(cfg);
        crate::peers::view::endpoints(peers.clone())(cfg);
        for routes in &application {
            routes(cfg);
        }
    })
}

/// Initialises logging once (RUST_LOG, default `info`), in `format`.
pub fn init_logging(format: LineFormat) {
    crate::metrics::logging::init(format);
}

/// Serves `mount`'s application until SIGTERM: logging, the connection budget
/// check, one actix System with the configured workers.
pub fn serve(
    config: KitConfig,
    mount: impl FnOnce(&Services) -> Mount + Send + 'static,
) -> Result<(), String> {
    init_logging(config.server.log_format);
    if let Some(budget) = &config.budget {
        log::info!("{}", budget::check(budget)?);
    }
    actix_web::rt::System::new().block_on(async move {
        let workers = config.server.workers;
        let pool_size = config.db.pool_size;
        let ip = config.server.bind.ip();
        let admin_ip = config.server.admin_bind.map(|a| a.ip());
        let app = Application::build(config, mount).await?;
        log::info!(
            "brisk listening on {ip}:{} with {workers} workers, pool of {pool_size} connections",
            app.port(),
        );
        if let (Some(ip), Some(port)) = (admin_ip, app.admin_port()) {
            log::info!("operations endpoints on {ip}:{port}");
        }
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}
