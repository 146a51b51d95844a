//! Statements per request, counted by a Diesel `Instrumentation` installed on
//! every pooled connection. The count lands in a task-local `RequestQueries`
//! that the request's middleware scopes around the handler, so a connection
//! shared over time by many requests charges each statement to the right one.
//! Transaction control (BEGIN/COMMIT/ROLLBACK) is not counted.

use diesel::connection::{Instrumentation, InstrumentationEvent};
use std::fmt::Write;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

tokio::task_local! {
    static CURRENT: RequestQueries;
}

/// The statements of one request: count and total time. Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct RequestQueries {
    inner: Arc<Inner>,
}

#[derive(Default, Debug)]
struct Inner {
    count: AtomicU64,
    nanos: AtomicU64,
}

impl RequestQueries {
    pub fn count(&self) -> u64 {
        self.inner.count.load(Ordering::Relaxed)
    }

    /// Total time spent in counted statements.
    pub fn elapsed(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.inner.nanos.load(Ordering::Relaxed))
    }

    fn record(&self, nanos: u64) {
        self.inner.count.fetch_add(1, Ordering::Relaxed);
        self.inner.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Runs `fut` with statements charged to `self`.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// The counter of the request being handled, if any.
    pub fn current() -> Option<RequestQueries> {
        CURRENT.try_with(|q| q.clone()).ok()
    }
}

/// Installed on each connection by the pool's setup hook.
#[derive(Default)]
pub struct CountingInstrumentation {
    started: Option<Instant>,
}

impl Instrumentation for CountingInstrumentation {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => self.started = Some(Instant::now()),
            InstrumentationEvent::FinishQuery { query, .. } => {
                let nanos = self
                    .started
                    .take()
                    .map(|t| t.elapsed().as_nanos() as u64)
                    .unwrap_or(0);
                if is_transaction_control(query) {
                    return;
                }
                let _ = CURRENT.try_with(|q| q.record(nanos));
            }
            _ => {}
        }
    }
}

/// Reads only the first bytes of the statement: no allocation per query.
fn is_transaction_control(query: &dyn std::fmt::Display) -> bool {
    let mut head = Prefix::default();
    let _ = write!(head, "{query}");
    let text = head.as_str().trim_start();
    ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"]
        .iter()
        .any(|kw| text.len() >= kw.len() && text[..kw.len()].eq_ignore_ascii_case(kw))
}

#[derive(Default)]
struct Prefix {
    buf: [u8; 16],
    len: usize,
}

impl Prefix {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for Prefix {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                // Stop formatting the rest of the statement.
                return Err(std::fmt::Error);
            }
            if b.is_ascii() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_control_is_recognised_from_the_head_of_the_statement() {
        assert!(is_transaction_control(&"BEGIN"));
        assert!(is_transaction_control(&"  commit"));
        assert!(is_transaction_control(&"ROLLBACK TO SAVEPOINT x"));
        assert!(!is_transaction_control(&"SELECT 1"));
        assert!(!is_transaction_control(&"BEG"));
    }
}
