//! Statements per request, counted by a Diesel `Instrumentation` installed on
//! every pooled connection. Each statement is charged to the request being handled
//! (`metrics::RequestStatements`, a task-local the request's middleware scopes around the
//! handler), so a connection shared over time by many requests charges each
//! statement to the right one. Transaction control (BEGIN/COMMIT/ROLLBACK) is not
//! counted.

use crate::metrics::RequestStatements;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use std::fmt::Write;
use std::time::Instant;

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
                RequestStatements::charge_current(nanos);
            }
            _ => {}
        }
    }
}

/// Reads only the first bytes of the statement: no allocation per statement.
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
