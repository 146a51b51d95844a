//! SIGTERM without lost requests.
//!
//! actix's own graceful stop closes the listener, finishes the requests in flight
//! (their responses say `Connection: close`) and closes every idle keep-alive
//! connection at once. A client that wrote its next request on such a connection a
//! moment before gets the connection closed under it: the request is lost, and
//! clients do not retry a `POST` (measured: up to 2 of 64 busy clients at each
//! SIGTERM, issue 10 scenario 11). So brisk drains first, then lets actix stop:
//!
//! 1. On SIGTERM or SIGINT the API listener stops accepting and is shut, so new
//!    connections are refused (nothing sent, nothing lost). actix's accept loop may
//!    log one "Error accepting connection: Invalid argument" as it notices. The
//!    operations listener (`--admin-bind`) is another server, not paused: a load
//!    balancer's probe of `/ready` there is answered 503 `draining` until the stop.
//! 2. Every response from then on carries `Connection: close`: each open connection
//!    answers at most one more request, then closes. Requests already written on an
//!    idle connection are read and answered, not dropped.
//! 3. Once no connection is open, or no request has arrived for [`QUIET`] (the
//!    connections left belong to idle clients), or half the shutdown timeout has
//!    passed, actix's graceful stop runs with the other half: it finishes bodies still
//!    streaming and closes what is left.
//!
//! The process then flushes its pending cache invalidations (`startup`).

use actix_service::{apply_fn_factory, Service, ServiceFactory};
use actix_web::dev::{ServerHandle, ServiceResponse};
use actix_web::http::ConnectionType;
use std::future::Future;
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// With no request for this long while draining, the connections still open are
/// idle ones: the drain ends and actix closes them.
pub const QUIET: Duration = Duration::from_millis(250);
/// How often the drain looks at its counters.
const POLL: Duration = Duration::from_millis(10);

/// The drain's state, shared by the signal task, every worker's middleware and every
/// connection (cheap to clone).
#[derive(Clone, Default)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    draining: AtomicBool,
    /// Open connections.
    open: AtomicUsize,
    /// Each worker's request counters ([`Drain::worker`]).
    workers: Mutex<Vec<Arc<RequestCounters>>>,
    /// Pauses the accept loop before the listener is shut (set once the server runs).
    server: OnceLock<ServerHandle>,
}

/// One worker's request counters. Per worker, so that no cache line is written by two
/// workers on every request (shared counters cost /health ~5 % of its throughput on
/// two cores); the drain reads their sums.
#[derive(Default)]
struct RequestCounters {
    /// Requests whose response head is not sent yet.
    in_flight: AtomicUsize,
    /// Requests started so far.
    started: AtomicU64,
}

/// A worker's handle on the drain for its requests ([`WorkerDrain::request`]); cloned
/// per request without touching a shared reference count.
#[derive(Clone)]
pub struct WorkerDrain(Rc<WorkerState>);

struct WorkerState {
    shared: Arc<Inner>,
    counters: Arc<RequestCounters>,
}

/// Counts its connection as open until the connection's service ends.
struct OpenConnection(Arc<Inner>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drain {
    /// Whether SIGTERM (or SIGINT) arrived.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.inner.open.load(Ordering::SeqCst)
    }

    /// Wraps a listener's per-connection service factory: each connection counts as
    /// open until its service (the whole HTTP/1 dispatch) ends.
    pub fn count_connections<SF, Io>(
        &self,
        factory: SF,
    ) -> impl ServiceFactory<
        Io,
        Config = SF::Config,
        Response = SF::Response,
        Error = SF::Error,
        InitError = SF::InitError,
    >
    where
        SF: ServiceFactory<Io>,
    {
        let inner = Arc::clone(&self.inner);
        apply_fn_factory(factory, move |io: Io, service: &SF::Service| {
            inner.open.fetch_add(1, Ordering::SeqCst);
            let open = OpenConnection(Arc::clone(&inner));
            let dispatch = service.call(io);
            async move {
                let result = dispatch.await;
                drop(open);
                result
            }
        })
    }

    /// The API server's handle, once it runs (its accept loop is paused before the
    /// listener is shut; the operations listener's server is not).
    pub fn set_server(&self, handle: ServerHandle) {
        let _ = self.inner.server.set(handle);
    }

    /// A handle for one worker's requests, with counters of its own.
    pub fn worker(&self) -> WorkerDrain {
        let counters = Arc::new(RequestCounters::default());
        self.inner
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::clone(&counters));
        WorkerDrain(Rc::new(WorkerState {
            shared: Arc::clone(&self.inner),
            counters,
        }))
    }

    /// Requests started and in flight, summed over the workers.
    fn requests(&self) -> (u64, usize) {
        let workers = self.inner.workers.lock().unwrap_or_else(|p| p.into_inner());
        workers.iter().fold((0, 0), |(started, in_flight), c| {
            (
                started + c.started.load(Ordering::SeqCst),
                in_flight + c.in_flight.load(Ordering::SeqCst),
            )
        })
    }

    /// For the server builder's `shutdown_signal`: resolves (and actix's graceful stop begins)
    /// once SIGTERM or SIGINT arrived and the drain is over, at most `max` later.
    /// `listener` is a clone of the server's listener, shut when the drain starts.
    /// Signal handlers are installed here, before the server runs.
    pub fn on_signal(
        &self,
        listener: TcpListener,
        max: Duration,
    ) -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let drain = self.clone();
        Ok(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            log::info!(
                "{name} received: draining {} connections (at most {} ms) before the graceful stop",
                drain.open_connections(),
                max.as_millis()
            );
            drain.run(listener, max).await;
        })
    }

    /// Steps 1–3 of the module doc.
    async fn run(&self, listener: TcpListener, max: Duration) {
        let inner = &self.inner;
        let start = Instant::now();
        inner.draining.store(true, Ordering::SeqCst);
        if let Some(server) = inner.server.get() {
            server.pause().await;
        }
        // Refuse new connections now (Linux stops listening on a shut listener); the
        // graceful stop closes the listener anyway.
        if let Err(e) = socket2::SockRef::from(&listener).shutdown(std::net::Shutdown::Read) {
            log::debug!("could not shut the listener early ({e}); it closes at the stop");
        }
        drop(listener);
        let (mut seen, mut quiet_since) = (self.requests().0, Instant::now());
        loop {
            let (started, in_flight) = self.requests();
            if started != seen || in_flight > 0 {
                (seen, quiet_since) = (started, Instant::now());
            }
            let open = inner.open.load(Ordering::SeqCst);
            if open == 0 || quiet_since.elapsed() >= QUIET || start.elapsed() >= max {
                log::info!(
                    "drained in {} ms ({open} connections left); stopping",
                    start.elapsed().as_millis()
                );
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl WorkerDrain {
    /// Wraps one request (`App::wrap_fn`): counted while in flight; while draining
    /// its response says `Connection: close`.
    pub async fn request<B, F>(self, call: F) -> Result<ServiceResponse<B>, actix_web::Error>
    where
        F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    {
        let counters = &self.0.counters;
        counters.started.fetch_add(1, Ordering::SeqCst);
        counters.in_flight.fetch_add(1, Ordering::SeqCst);
        let result = call.await;
        counters.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut res = result?;
        if self.0.shared.draining.load(Ordering::SeqCst) {
            res.response_mut()
                .head_mut()
                .set_connection_type(ConnectionType::Close);
        }
        Ok(res)
    }
}

/// The shutdown timeout split in two: how long the drain may last, and the seconds
/// left to actix's graceful stop (at least 1).
pub fn split_timeout(timeout: Duration) -> (Duration, u64) {
    let drain = timeout / 2;
    (drain, (timeout - drain).as_secs().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shutdown_timeout_is_shared_between_drain_and_stop() {
        assert_eq!(
            split_timeout(Duration::from_secs(30)),
            (Duration::from_secs(15), 15)
        );
        assert_eq!(
            split_timeout(Duration::from_secs(5)),
            (Duration::from_millis(2500), 2)
        );
        assert_eq!(
            split_timeout(Duration::from_secs(1)),
            (Duration::from_millis(500), 1)
        );
    }
}
