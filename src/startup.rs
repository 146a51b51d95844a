//! Builds pools, clients and actors once per process, then binds. Tests boot the
//! same code through [`Application::build`] on port 0.

use crate::config::server::DEV_SECRET;
use crate::config::ServeArgs;
use crate::http;
use crate::state::AppState;
use crate::warm::{Shutdown, Warmer};
use actix::Addr;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, HttpServer};
use std::net::TcpListener;

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    warmer: Option<Addr<Warmer>>,
}

impl Application {
    /// Builds the shared state and binds the listener. Must run inside an actix
    /// System (`actix_web::main`, `actix_web::test`), which the actors need.
    pub async fn build(args: ServeArgs) -> Result<Self, String> {
        let state = AppState::build(&args)?;
        // One warming scheduler per process (an actor of this System), started with
        // the shared state so it preloads every tenant's catalog before traffic.
        let warmer = (!args.cache.warm_disabled && !args.cache.cache_disabled)
            .then(|| Warmer::start_with(state.cache.clone(), args.cache.warm_config()));
        let data = web::Data::new(state.clone());
        let listener = TcpListener::bind(args.server.bind)
            .map_err(|e| format!("--bind {}: {e}", args.server.bind))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("--bind: {e}"))?
            .port();
        let server = HttpServer::new(move || http::build_app(data.clone()))
            .workers(usize::from(args.server.workers))
            .shutdown_timeout(args.server.shutdown_timeout_secs)
            .listen(listener)
            .map_err(|e| format!("--bind: {e}"))?
            .run();
        Ok(Self {
            port,
            server,
            state,
            warmer,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
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
            .state
            .cache
            .flush_invalidations(std::time::Duration::from_secs(2))
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

/// Initialises logging once (RUST_LOG, default `info`).
pub fn init_logging() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .try_init();
}

/// `brisk serve`.
pub fn serve(args: ServeArgs) -> Result<(), String> {
    crate::metrics::logging::init(args.server.log_format);
    if args.server.secret == DEV_SECRET {
        log::warn!("BRISK_SECRET is the development default: set it (the same in every process) in production");
    }
    if !args.database.skip_budget_check {
        let report = crate::db::budget::check(&args.database.budget_config())?;
        log::info!("{report}");
    }
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(args.clone()).await?;
        log::info!(
            "brisk listening on {}:{} with {} workers, pool of {} connections",
            args.server.bind.ip(),
            app.port(),
            args.server.workers,
            args.database.pool_size
        );
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}
