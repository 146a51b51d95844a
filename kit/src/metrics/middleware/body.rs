//! The response body, timed: [`LoggedBody`] wraps the handler's body and, when it ends,
//! fails or is dropped, runs the request's [`Finish`] once: per-route metrics and the
//! access-log line. The clock stops at the last byte (or the drop, when the client goes
//! away), as actix-web's `Logger` does with its `StreamLog`.

use super::super::events::InFlight;
use super::super::log_context::TraceId;
use super::super::outcomes::CacheEvent;
use super::super::routes::{Observation, UNMATCHED};
use super::super::statements::RequestStatements;
use super::access_log::AccessLine;
use super::shared::Shared;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::http::Method;
use bytes::Bytes;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// Everything needed to record and log a request once its body ends.
pub(super) struct Finish {
    pub(super) shared: Arc<Shared>,
    pub(super) start: Instant,
    pub(super) route: Option<std::sync::Arc<str>>,
    pub(super) path: Box<str>,
    pub(super) method: Method,
    pub(super) status: u16,
    pub(super) statements: RequestStatements,
    pub(super) cache: Option<CacheEvent>,
    /// Body bytes produced so far (after compression).
    pub(super) bytes_out: u64,
    /// The body's size before compression, when known.
    pub(super) bytes_uncompressed: Option<u64>,
    pub(super) request_id: Arc<str>,
    /// The W3C trace id in the request's log context.
    pub(super) trace_id: Option<TraceId>,
    pub(super) client: Option<IpAddr>,
    pub(super) _in_flight: InFlight,
}

impl Finish {
    /// Records the request under its route and writes its access-log line;
    /// `complete` is false when the client went away before the body ended.
    pub(super) fn run(self, complete: bool) {
        let elapsed = self.start.elapsed();
        let statements = self.statements.count();
        let db_time = self.statements.elapsed();
        let route = self.route.as_deref().unwrap_or(UNMATCHED);
        self.shared.metrics.record_request(
            route,
            &self.method,
            &Observation {
                status: self.status,
                elapsed,
                statements,
                db_time,
                redis_time: self.statements.redis_elapsed(),
                bytes_out: self.bytes_out,
                bytes_uncompressed: self.bytes_uncompressed,
            },
        );
        let line = AccessLine {
            request_id: &self.request_id,
            trace_id: self.trace_id.as_ref(),
            method: self.method.as_str(),
            route,
            path: &self.path,
            status: self.status,
            elapsed_ms: elapsed.as_secs_f64() * 1000.0,
            statements,
            db_ms: db_time.as_secs_f64() * 1000.0,
            cache: self.cache.map(CacheEvent::as_str),
            client: self.client,
            complete,
        };
        line.write(&self.shared.settings, elapsed);
    }
}

/// The response body, timed: the request is recorded when it ends, fails, or is dropped.
pub struct LoggedBody {
    pub(super) body: BoxBody,
    pub(super) finish: Option<Finish>,
}

impl MessageBody for LoggedBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.body).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(f) = this.finish.as_mut() {
                    f.bytes_out += chunk.len() as u64;
                }
            }
            Poll::Ready(None) => {
                if let Some(f) = this.finish.take() {
                    f.run(true);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(f) = this.finish.take() {
                    f.run(false);
                }
            }
            _ => {}
        }
        polled
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if let Some(f) = self.finish.take() {
            // Bodies the server never polls (204, 304, HEAD) end here, complete; any
            // other body dropped before its end was abandoned by the client.
            let complete = matches!(self.body.size(), BodySize::None | BodySize::Sized(0));
            f.run(complete);
        }
    }
}
