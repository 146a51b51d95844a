//! The kit's start-up: builds the process's shared services once (pool, Redis,
//! metrics, limiter, cache, warming scheduler), mounts the application's handler set
//! on every worker's `App`, then binds. Tests boot the same code through
//! [`Application::build`] on port 0.

use crate::authenticate::Authenticate;
use crate::cache::CacheConfig;
use crate::db::budget::{self, BudgetConfig};
use crate::http::middleware::auth::Protection;
use crate::http::precompressed::Precompressed;
use crate::metrics::logging::LineFormat;
use crate::metrics::MetricsConfig;
use crate::ratelimit::RateLimitConfig;
use crate::redis::RedisConfig;
pub use crate::services::{Services, Store};
use crate::warm::{Shutdown, WarmConfig, Warmer};
use crate::{db::config::DbConfig, http};
use actix::Addr;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, HttpServer};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// The listener and its workers.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address of the API listener (port 0: any free port).
    pub bind: SocketAddr,
    /// HTTP worker threads of this process.
    pub workers: usize,
    /// How long SIGTERM waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Plain text or JSON log lines.
    pub log_format: LineFormat,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            shutdown_timeout: Duration::from_secs(30),
            log_format: LineFormat::Text,
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
}

type Routes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// What an application hands the kit: its handler set, and which of its routes
/// need a key and how a key is checked.
#[derive(Clone)]
pub struct Mount {
    routes: Routes,
    protection: Option<Protection>,
}

impl Mount {
    /// A handler set (an actix `ServiceConfig` function); no route needs a key.
    pub fn new(routes: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static) -> Self {
        Self {
            routes: Arc::new(routes),
            protection: None,
        }
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
    server: Server,
    services: Services,
    warmer: Option<Addr<Warmer>>,
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
        let variants = Precompressed::default();
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
        let listener = TcpListener::bind(config.server.bind)
            .map_err(|e| format!("--bind {}: {e}", config.server.bind))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("--bind: {e}"))?
            .port();
        let shared = services.clone();
        let metrics_config = config.metrics.clone();
        let server = HttpServer::new(move || {
            http::build_app(
                &shared,
                &variants,
                &*mount.routes,
                mount.protection.clone(),
                &metrics_config,
            )
        })
        .workers(config.server.workers)
        .shutdown_timeout(config.server.shutdown_timeout.as_secs())
        .listen(listener)
        .map_err(|e| format!("--bind: {e}"))?
        .run();
        Ok(Self {
            port,
            server,
            services,
            warmer,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process's shared services.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Stops the server (gracefully with `stop(true)`).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; SIGTERM/SIGINT drain in-flight requests first.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
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
        result
    }
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
        let app = Application::build(config, mount).await?;
        log::info!(
            "brisk listening on {ip}:{} with {workers} workers, pool of {pool_size} connections",
            app.port(),
        );
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}
