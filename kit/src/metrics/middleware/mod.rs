//! The measuring middleware, just inside the drain and the slow-client deadlines
//! (`http::build_app` has the order): request id, timer, in-flight gauge, per-request
//! statement counter, then, when the response body ends, the per-route metrics and one
//! access-log line (plus the N+1 and slow-request warnings). It also adds `X-Request-Id`
//! to every response, and `Server-Timing` when the deployment turns it on
//! (`--server-timing`): the one writer of that header.
//!
//! The clock stops when the body has been produced to its end (or dropped, when the
//! client goes away): see `body.rs`. `Server-Timing` is written with the headers, so
//! for a streamed body it shows the time and statements until then. The line itself
//! is `access_log.rs`'s.

mod access_log;
mod body;
mod shared;
#[cfg(test)]
mod tests;

pub use body::LoggedBody;
pub use shared::ClientAddrFn;

use super::events::Metrics;
use super::log_context::{self, LogContext};
use super::outcomes::CacheEvent;
use super::settings::AccessLogSettings;
use super::statements::RequestStatements;
use crate::http::middleware::guard::UncompressedSize;
use crate::route::route_pattern;
use actix_web::body::MessageBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, HttpRequest};
use body::Finish;
use futures_util::future::LocalBoxFuture;
use shared::Shared;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::time::Instant;

/// `X-Request-Id`: accepted from the client when sane, else generated; always returned.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The W3C trace context header a request may carry.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `Server-Timing`: database time and statements, and the total, for browser dev tools.
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The request's id, in the request extensions for handlers and error logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub Arc<str>);

/// The metrics and access-log middleware; wrap it outside everything it should time
/// (`http::build_app` wraps only the slow-client deadlines after it).
#[derive(Clone)]
pub struct RequestMetrics {
    shared: Arc<Shared>,
}

impl RequestMetrics {
    /// Records into `metrics`; logs per `settings`; client address = TCP peer.
    pub fn new(metrics: Metrics, settings: AccessLogSettings) -> Self {
        Self {
            shared: Arc::new(Shared {
                metrics,
                settings,
                client_addr: Arc::new(|req: &HttpRequest| req.peer_addr().map(|a| a.ip())),
                id_prefix: rand::random(),
                server_timing: false,
                enabled: true,
            }),
        }
    }

    /// Replaces the client-address resolution (default: the TCP peer).
    pub fn with_client_addr(self, resolve: ClientAddrFn) -> Self {
        self.rebuilt(|s| s.client_addr = resolve)
    }

    /// Sends `Server-Timing` with every response when `on` (default: off).
    pub fn with_server_timing(self, on: bool) -> Self {
        self.rebuilt(|s| s.server_timing = on)
    }

    /// Passes every request through unmeasured when `on` is false (default: on), to
    /// measure the middleware's own cost. A switch inside the layer rather than an
    /// actix `Condition` around it: a `Condition`'s future holds its disabled branch,
    /// the whole inner pipeline's future, inline, so the layers outside it and actix's
    /// dispatcher would move that much memory on every request (callgrind: memcpy was
    /// the costliest function of `/health`).
    pub fn with_enabled(self, on: bool) -> Self {
        self.rebuilt(|s| s.enabled = on)
    }

    fn rebuilt(self, change: impl FnOnce(&mut Shared)) -> Self {
        let s = &self.shared;
        let mut shared = Shared {
            metrics: s.metrics.clone(),
            settings: s.settings.clone(),
            client_addr: Arc::clone(&s.client_addr),
            id_prefix: s.id_prefix,
            server_timing: s.server_timing,
            enabled: s.enabled,
        };
        change(&mut shared);
        Self {
            shared: Arc::new(shared),
        }
    }
}

/// An incoming id is kept when it is 1..=128 characters of `[A-Za-z0-9._:/+=-]`, so it
/// can go into a log line and a header unchanged.
pub fn sane_request_id(value: &HeaderValue) -> Option<&str> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/+=-".contains(&b));
    ok.then_some(s)
}

impl<S, B> Transform<S, ServiceRequest> for RequestMetrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<LoggedBody>;
    type Error = Error;
    type Transform = RequestMetricsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestMetricsService {
            service,
            shared: Arc::clone(&self.shared),
        }))
    }
}

/// The service built by [`RequestMetrics`].
pub struct RequestMetricsService<S> {
    service: S,
    shared: Arc<Shared>,
}

impl<S, B> Service<ServiceRequest> for RequestMetricsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<LoggedBody>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        if !self.shared.enabled {
            let fut = self.service.call(req);
            return Box::pin(async move {
                let res = fut.await?.map_into_boxed_body();
                Ok(res.map_body(|_, body| LoggedBody { body, finish: None }))
            });
        }
        let mut finish = begin(Arc::clone(&self.shared), &req);
        let traceparent = req.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok());
        let context = LogContext::for_request(Arc::clone(&finish.request_id), traceparent);
        finish.trace_id = Some(context.trace_id.clone());
        let fut = self.service.call(req);
        Box::pin(log_context::scope(Some(context), async move {
            let mut res = match fut.await {
                Ok(res) => res.map_into_boxed_body(),
                Err(err) => {
                    // actix turns this error into its response after us: measure and log
                    // it now (it has no body to wait for). Inner middleware should prefer
                    // `Ok(req.error_response(err))` so the response carries X-Request-Id.
                    finish.status = err.as_response_error().status_code().as_u16();
                    finish.run(true);
                    return Err(err);
                }
            };
            finish.status = res.status().as_u16();
            finish.cache = res.response().extensions().get::<CacheEvent>().copied();
            finish.bytes_uncompressed = res
                .response()
                .extensions()
                .get::<UncompressedSize>()
                .map(|s| s.0);
            stamp_headers(&mut res, &finish);
            Ok(res.map_body(|_, body| LoggedBody {
                body,
                finish: Some(finish),
            }))
        }))
    }
}

/// Starts a request's measurement: its id, its statement counter (put in the
/// extensions for the inner statement-counting middleware), the in-flight guard, and
/// what the log line needs from the request.
fn begin(shared: Arc<Shared>, req: &ServiceRequest) -> Finish {
    let start = Instant::now();
    let request_id: Arc<str> = match req.headers().get(&REQUEST_ID).and_then(sane_request_id) {
        Some(id) => Arc::from(id),
        None => shared.next_id(),
    };
    let statements = RequestStatements::default();
    {
        let mut ext = req.extensions_mut();
        ext.insert(statements.clone());
        ext.insert(RequestId(Arc::clone(&request_id)));
    }
    let in_flight = shared.metrics.in_flight_guard();
    let client = (shared.client_addr)(req.request());
    Finish {
        shared,
        start,
        // The route pattern is read before the call: an inner middleware may answer with
        // `Err`, after which no request is left to ask. It is the pattern of the route
        // the router will run, matched on the decoded path (`route::route_pattern`).
        route: route_pattern(req),
        path: clipped_path(req.path()),
        method: req.method().clone(),
        status: 0,
        statements,
        cache: None,
        bytes_out: 0,
        bytes_uncompressed: None,
        request_id,
        trace_id: None,
        client,
        _in_flight: in_flight,
    }
}

/// Adds `X-Request-Id` and, when turned on, `Server-Timing` (statements and time so
/// far) to `res`.
fn stamp_headers(res: &mut ServiceResponse, finish: &Finish) {
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&finish.request_id) {
        headers.insert(REQUEST_ID, v);
    }
    if !finish.shared.server_timing {
        return;
    }
    let timing = format!(
        "db;dur={:.3};desc=\"{} statements\", total;dur={:.3}",
        finish.statements.elapsed().as_secs_f64() * 1000.0,
        finish.statements.count(),
        finish.start.elapsed().as_secs_f64() * 1000.0
    );
    if let Ok(v) = HeaderValue::from_str(&timing) {
        headers.insert(SERVER_TIMING, v);
    }
}

/// The path for the log line, cut at 512 bytes (on a character boundary).
fn clipped_path(path: &str) -> Box<str> {
    let mut end = path.len().min(512);
    while end > 0 && !path.is_char_boundary(end) {
        end -= 1;
    }
    path[..end].into()
}
