//! What every request through one `RequestMetrics` shares: where to record, how to
//! log, how to find the client, and the request-id generator.

use super::super::events::Metrics;
use super::super::settings::AccessLogSettings;
use actix_web::HttpRequest;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Resolves the client address of a request. The default is the TCP peer; the rate
/// limiter's trusted-hops resolution (`src/ratelimit/client_ip.rs`) plugs in here
/// through `RequestMetrics::with_client_addr`.
pub type ClientAddrFn = Arc<dyn Fn(&HttpRequest) -> Option<IpAddr> + Send + Sync>;

/// What every request of the middleware shares.
pub(super) struct Shared {
    pub(super) metrics: Metrics,
    pub(super) settings: AccessLogSettings,
    pub(super) client_addr: ClientAddrFn,
    pub(super) id_prefix: u32,
    pub(super) id_counter: AtomicU64,
    /// Send `Server-Timing`.
    pub(super) server_timing: bool,
}

impl Shared {
    /// A new request id.
    pub(super) fn next_id(&self) -> Arc<str> {
        // A random per-process prefix and a counter: unique without a syscall per request.
        let n = self.id_counter.fetch_add(1, Ordering::Relaxed);
        Arc::from(format!("{:08x}{:012x}", self.id_prefix, n))
    }
}
