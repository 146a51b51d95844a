//! What every request through one `RequestMetrics` shares: where to record, how to
//! log, how to find the client, and the request-id generator.

use super::super::events::Metrics;
use super::super::settings::AccessLogSettings;
use actix_web::HttpRequest;
use std::cell::Cell;
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
    /// Send `Server-Timing`.
    pub(super) server_timing: bool,
}

/// Threads that made a request id so far: each counts in its own range.
static ID_THREADS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's next id number: its index in the top 8 of 48 bits, then a count.
    static NEXT_ID: Cell<u64> = Cell::new((ID_THREADS.fetch_add(1, Ordering::Relaxed) & 0xff) << 40);
}

impl Shared {
    /// A new request id.
    pub(super) fn next_id(&self) -> Arc<str> {
        // A random per-process prefix and a per-thread count: unique without a syscall
        // or a shared counter per request.
        let n = NEXT_ID.with(|next| {
            let n = next.get();
            next.set(n + 1);
            n
        });
        Arc::from(format!(
            "{:08x}{:012x}",
            self.id_prefix,
            n & 0xffff_ffff_ffff
        ))
    }
}
