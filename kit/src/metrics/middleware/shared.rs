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
    /// Measure and log at all (off only to measure the middleware's own cost).
    pub(super) enabled: bool,
}

/// Threads that made a request id so far: each counts in its own range.
static ID_THREADS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's index (16 bits) and its next count (48 bits).
    static NEXT_ID: Cell<(u16, u64)> =
        Cell::new(((ID_THREADS.fetch_add(1, Ordering::Relaxed) & 0xffff) as u16, 0));
}

impl Shared {
    /// A new request id: 24 hex digits, the process's random prefix, the thread's
    /// index and its count. Unique without a syscall or a shared counter per request;
    /// written by hand into one buffer (this runs on every request without an
    /// `X-Request-Id`, and `format!` cost more than the rest of the id's work).
    pub(super) fn next_id(&self) -> Arc<str> {
        let (thread, n) = NEXT_ID.with(|next| {
            let (thread, n) = next.get();
            next.set((thread, n.wrapping_add(1) & 0xffff_ffff_ffff));
            (thread, n)
        });
        let mut buf = [0u8; 24];
        hex_into(&mut buf[..8], u64::from(self.id_prefix));
        hex_into(&mut buf[8..12], u64::from(thread));
        hex_into(&mut buf[12..], n);
        Arc::from(std::str::from_utf8(&buf).unwrap_or_default())
    }
}

/// Writes the low `out.len()` hex digits of `value` (lowercase) into `out`.
fn hex_into(out: &mut [u8], mut value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::hex_into;

    #[test]
    fn hex_digits_are_the_low_digits_of_the_value_zero_padded() {
        let mut buf = [0u8; 6];
        hex_into(&mut buf, 0xabc);
        assert_eq!(&buf, b"000abc");
        hex_into(&mut buf[..2], 0x1234);
        assert_eq!(&buf[..2], b"34");
    }
}
