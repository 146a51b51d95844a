//! Which request a log line belongs to. While a request's future runs (and while a
//! single-flight it started runs, on behalf of every request that joined it), its
//! request id and W3C trace id are in a task-local [`LogContext`], and the log
//! formatter (`logging.rs`) writes them on every line: the warn and error lines of a
//! request carry the same `request_id` as its access line.
//!
//! The trace id comes from the request's `traceparent` header
//! (<https://www.w3.org/TR/trace-context/>) when it is valid, so brisk's lines join
//! the caller's trace; otherwise brisk starts a trace of its own.

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static CONTEXT: LogContext;
}

/// The request a piece of work runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogContext {
    /// The request's `X-Request-Id` (the client's, or brisk's own).
    pub request_id: Arc<str>,
    /// 32 lowercase hex digits: the caller's trace, or a new one.
    pub trace_id: Arc<str>,
}

impl LogContext {
    /// The context of a request with `request_id` and, if it sent one, the value of
    /// its `traceparent` header.
    pub fn for_request(request_id: Arc<str>, traceparent: Option<&str>) -> Self {
        let trace_id = traceparent
            .and_then(trace_id_of)
            .map(Arc::from)
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
fn trace_id_of(header: &str) -> Option<String> {
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
    valid.then(|| trace.to_string())
}

/// A new random trace id.
fn new_trace_id() -> Arc<str> {
    Arc::from(format!("{:032x}", rand::random::<u128>().max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_gives_its_trace_id() {
        let c = LogContext::for_request(Arc::from("r1"), Some(VALID));
        assert_eq!(&*c.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
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
            assert_ne!(&*c.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", "{bad:?}");
            assert_eq!(c.trace_id.len(), 32, "{bad:?}");
            assert!(c.trace_id.bytes().all(|b| b.is_ascii_hexdigit()));
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
