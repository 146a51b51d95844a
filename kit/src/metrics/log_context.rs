//! Which request a log line belongs to. While a request's future runs (and while a
//! single-flight it started runs, on behalf of every request that joined it), its
//! request id and W3C trace id are in a task-local [`LogContext`], and the log
//! formatter (`logging.rs`) writes them on every line: the warn and error lines of a
//! request carry the same `request_id` as its access line.
//!
//! The trace id comes from the request's `traceparent` header
//! (<https://www.w3.org/TR/trace-context/>) when it is valid, so brisk's lines join
//! the caller's trace; otherwise brisk starts a trace of its own: a random number drawn
//! once per process and a per-thread count (from a random start), written out as hex only
//! when a line is written (most requests write one line, many none).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, LazyLock};

tokio::task_local! {
    static CONTEXT: LogContext;
}

/// The request a piece of work runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogContext {
    /// The request's `X-Request-Id` (the client's, or brisk's own).
    pub request_id: Arc<str>,
    /// The caller's trace, or a new one.
    pub trace_id: TraceId,
}

/// A W3C trace id; displayed (and serialized) as 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceId {
    /// The caller's, from its `traceparent`, as it sent it.
    Caller(Arc<str>),
    /// One of brisk's own: never zero.
    Own(u128),
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceId::Caller(id) => f.write_str(id),
            TraceId::Own(n) => write!(f, "{n:032x}"),
        }
    }
}

impl serde::Serialize for TraceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl LogContext {
    /// The context of a request with `request_id` and, if it sent one, the value of
    /// its `traceparent` header.
    pub fn for_request(request_id: Arc<str>, traceparent: Option<&str>) -> Self {
        let trace_id = traceparent
            .and_then(trace_id_of)
            .map(|id| TraceId::Caller(Arc::from(id)))
            .unwrap_or_else(new_trace_id);
        Self {
            request_id,
            trace_id,
        }
    }
}

/// The context of the work running now, if it runs for a request.
pub fn current() -> Option<LogContext> {
    CONTEXT.try_with(LogContext::clone).ok()
}

/// Runs `fut` with `context` as the current one (or as it is, without one).
pub async fn scope<F: Future>(context: Option<LogContext>, fut: F) -> F::Output {
    match context {
        Some(context) => CONTEXT.scope(context, fut).await,
        None => fut.await,
    }
}

/// The trace id of a valid version-00 `traceparent`
/// (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`); an all-zero id is invalid.
fn trace_id_of(header: &str) -> Option<&str> {
    let mut parts = header.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = version == "00"
        && parts.next().is_none()
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    valid.then_some(trace)
}

/// A new trace id: the process's random high half, the request count as the low
/// half (64 random bits keep processes apart; the count keeps requests apart).
fn new_trace_id() -> TraceId {
    static PROCESS: LazyLock<u64> = LazyLock::new(|| rand::random::<u64>() | 1);
    thread_local! {
        // Each thread counts from a random point: no counter shared between workers.
        static NEXT: Cell<u64> = Cell::new(rand::random());
    }
    let n = NEXT.with(|next| {
        let n = next.get();
        next.set(n.wrapping_add(1));
        n
    });
    TraceId::Own(u128::from(*PROCESS) << 64 | u128::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_gives_its_trace_id() {
        let c = LogContext::for_request(Arc::from("r1"), Some(VALID));
        assert_eq!(c.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn an_invalid_traceparent_starts_a_new_trace() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f35-00f067aa0ba902b7-01",
        ] {
            let c = LogContext::for_request(Arc::from("r"), Some(bad));
            let id = c.trace_id.to_string();
            assert_ne!(id, "4bf92f3577b34da6a3ce929d0e0e4736", "{bad:?}");
            assert_eq!(id.len(), 32, "{bad:?}");
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
    }

    #[test]
    fn trace_ids_of_one_process_differ_and_are_never_zero() {
        let a = new_trace_id();
        let b = new_trace_id();
        assert_ne!(a, b);
        for id in [a, b] {
            assert_ne!(id, TraceId::Own(0));
            assert_ne!(id.to_string(), "0".repeat(32), "W3C: all zeros is invalid");
        }
    }

    #[tokio::test]
    async fn the_context_is_current_inside_its_scope_only() {
        assert_eq!(current(), None);
        let c = LogContext::for_request(Arc::from("r7"), None);
        let inside = scope(Some(c.clone()), async { current() }).await;
        assert_eq!(inside, Some(c));
        assert_eq!(current(), None);
        assert_eq!(scope(None, async { current() }).await, None);
    }
}
