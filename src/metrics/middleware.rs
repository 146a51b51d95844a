//! The outermost middleware: request id, timer, in-flight gauge, per-request statement
//! counter, then, when the response body ends, the per-route metrics and one access-log
//! line (plus the N+1 and slow-request warnings). It also adds `X-Request-Id` and
//! `Server-Timing` to every response.
//!
//! The clock stops when the body has been produced to its end (or dropped, when the
//! client goes away), as actix-web's `Logger` does with its `StreamLog`: a streamed
//! export is timed whole, not just until its headers. `Server-Timing` is written with
//! the headers, so for a streamed body it shows the time and statements until then.

use super::events::{InFlight, Metrics};
use super::routes::{Observation, UNMATCHED};
use super::CacheEvent;
use crate::config::{LogFormat, MetricsArgs};
use crate::db::instrument::RequestQueries;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::{Error, HttpMessage, HttpRequest};
use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use std::future::{ready, Ready};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// `X-Request-Id`: accepted from the client when sane, else generated; always returned.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `Server-Timing`: database time and statements, and the total, for browser dev tools.
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The request's id, in the request extensions for handlers and error logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub Arc<str>);

/// Resolves the client address of a request. The default is the TCP peer; the rate
/// limiter's trusted-hops resolution (`src/ratelimit/client_ip.rs`) plugs in here
/// through [`RequestMetrics::with_client_addr`].
pub type ClientAddrFn = Arc<dyn Fn(&HttpRequest) -> Option<IpAddr> + Send + Sync>;

/// How the access log is written and when it warns.
#[derive(Debug, Clone)]
pub struct AccessLogSettings {
    /// One info line per request (target `brisk::access`).
    pub enabled: bool,
    /// Lines as JSON objects instead of `key=value` text.
    pub json: bool,
    /// Warn when a request runs more statements than this (the N+1 alarm).
    pub statement_warn_threshold: u64,
    /// Warn when a request takes longer than this.
    pub slow_request: Duration,
}

impl AccessLogSettings {
    /// From the `serve` flags.
    pub fn new(args: &MetricsArgs, format: LogFormat) -> Self {
        Self {
            enabled: args.access_log,
            json: format == LogFormat::Json,
            statement_warn_threshold: args.statement_warn_threshold,
            slow_request: args.slow_request(),
        }
    }
}

impl Default for AccessLogSettings {
    fn default() -> Self {
        Self::new(&MetricsArgs::default(), LogFormat::Text)
    }
}

struct Shared {
    metrics: Metrics,
    settings: AccessLogSettings,
    client_addr: ClientAddrFn,
    id_prefix: u32,
    id_counter: AtomicU64,
}

impl Shared {
    fn next_id(&self) -> Arc<str> {
        // A random per-process prefix and a counter: unique without a syscall per request.
        let n = self.id_counter.fetch_add(1, Ordering::Relaxed);
        Arc::from(format!("{:08x}{:012x}", self.id_prefix, n))
    }
}

/// The metrics and access-log middleware; wrap it outermost (`App::wrap` last).
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
                id_counter: AtomicU64::new(0),
            }),
        }
    }

    /// Replaces the client-address resolution (default: the TCP peer).
    pub fn with_client_addr(self, resolve: ClientAddrFn) -> Self {
        let s = &self.shared;
        Self {
            shared: Arc::new(Shared {
                metrics: s.metrics.clone(),
                settings: s.settings.clone(),
                client_addr: resolve,
                id_prefix: s.id_prefix,
                id_counter: AtomicU64::new(0),
            }),
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
        let start = Instant::now();
        let shared = Arc::clone(&self.shared);
        let request_id: Arc<str> = match req.headers().get(&REQUEST_ID).and_then(sane_request_id) {
            Some(id) => Arc::from(id),
            None => shared.next_id(),
        };
        let queries = RequestQueries::default();
        {
            let mut ext = req.extensions_mut();
            ext.insert(queries.clone());
            ext.insert(RequestId(Arc::clone(&request_id)));
        }
        let in_flight = shared.metrics.in_flight_guard();
        // The route pattern is read before the call: an inner middleware may answer with
        // `Err`, after which no request is left to ask. (Before routing actix matches the
        // path against the resource map; it is the same pattern the router picks.)
        let route = req.match_pattern();
        let method = req.method().clone();
        let path = clipped_path(req.path());
        let client = (shared.client_addr)(req.request());
        let fut = self.service.call(req);

        Box::pin(async move {
            let mut finish = Finish {
                shared,
                start,
                route,
                path,
                method,
                status: 0,
                queries,
                cache: None,
                request_id,
                client,
                _in_flight: in_flight,
            };
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

            let headers = res.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&finish.request_id) {
                headers.insert(REQUEST_ID, v);
            }
            let timing = format!(
                "db;dur={:.3};desc=\"{} statements\", total;dur={:.3}",
                finish.queries.elapsed().as_secs_f64() * 1000.0,
                finish.queries.count(),
                start.elapsed().as_secs_f64() * 1000.0
            );
            if let Ok(v) = HeaderValue::from_str(&timing) {
                headers.insert(SERVER_TIMING, v);
            }
            Ok(res.map_body(|_, body| LoggedBody {
                body,
                finish: Some(finish),
            }))
        })
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

/// Everything needed to record and log a request once its body ends.
struct Finish {
    shared: Arc<Shared>,
    start: Instant,
    route: Option<String>,
    path: Box<str>,
    method: Method,
    status: u16,
    queries: RequestQueries,
    cache: Option<CacheEvent>,
    request_id: Arc<str>,
    client: Option<IpAddr>,
    _in_flight: InFlight,
}

impl Finish {
    fn run(self, complete: bool) {
        let elapsed = self.start.elapsed();
        let statements = self.queries.count();
        let db_time = self.queries.elapsed();
        let route = self.route.as_deref().unwrap_or(UNMATCHED);
        self.shared.metrics.record_request(
            route,
            &self.method,
            &Observation {
                status: self.status,
                elapsed,
                statements,
                db_time,
            },
        );
        let line = AccessLine {
            request_id: &self.request_id,
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
        let s = &self.shared.settings;
        if s.enabled && log::log_enabled!(target: "brisk::access", log::Level::Info) {
            log::info!(target: "brisk::access", "{}", line.render(s.json, None));
        }
        if statements > s.statement_warn_threshold {
            log::warn!(
                target: "brisk::access",
                "{}",
                line.render(s.json, Some(("n_plus_one", format!("{statements} statements (threshold {})", s.statement_warn_threshold))))
            );
        }
        if elapsed > s.slow_request {
            log::warn!(
                target: "brisk::access",
                "{}",
                line.render(s.json, Some(("slow_request", format!("{:.1} ms (threshold {} ms)", line.elapsed_ms, s.slow_request.as_millis()))))
            );
        }
    }
}

/// One access-log record.
#[derive(serde::Serialize)]
struct AccessLine<'a> {
    request_id: &'a str,
    method: &'a str,
    route: &'a str,
    path: &'a str,
    status: u16,
    elapsed_ms: f64,
    statements: u64,
    db_ms: f64,
    cache: Option<&'static str>,
    client: Option<IpAddr>,
    /// False when the client went away before the body ended.
    complete: bool,
}

impl AccessLine<'_> {
    fn render(&self, json: bool, warning: Option<(&str, String)>) -> String {
        if json {
            let mut v = serde_json::to_value(self).unwrap_or_default();
            if let (Some((kind, detail)), Some(obj)) = (warning, v.as_object_mut()) {
                obj.insert("warning".into(), kind.into());
                obj.insert("detail".into(), detail.into());
            }
            return v.to_string();
        }
        let client = self.client.map(|c| c.to_string());
        let mut line = format!(
            "request_id={} client={} method={} route={} path={} status={} elapsed_ms={:.3} statements={} db_ms={:.3} cache={}{}",
            self.request_id,
            client.as_deref().unwrap_or("-"),
            self.method,
            self.route,
            self.path,
            self.status,
            self.elapsed_ms,
            self.statements,
            self.db_ms,
            self.cache.unwrap_or("-"),
            if self.complete { "" } else { " complete=false" },
        );
        if let Some((kind, detail)) = warning {
            line = format!("{kind}: {detail}: {line}");
        }
        line
    }
}

/// The response body, timed: the request is recorded when it ends, fails, or is dropped.
pub struct LoggedBody {
    body: BoxBody,
    finish: Option<Finish>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test, web, App, HttpResponse};
    use futures_util::stream;

    async fn product(path: web::Path<u64>) -> HttpResponse {
        let mut res = HttpResponse::Ok().body(format!("product {}", path.into_inner()));
        res.extensions_mut().insert(CacheEvent::Hit);
        res
    }

    async fn failing() -> Result<HttpResponse, Error> {
        Err(actix_web::error::ErrorInternalServerError("boom"))
    }

    async fn streamed() -> HttpResponse {
        let chunks = stream::unfold(0u8, |n| async move {
            if n == 3 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            Some((Ok::<_, Error>(Bytes::from_static(b"chunk\n")), n + 1))
        });
        HttpResponse::Ok().streaming(chunks)
    }

    fn line_value(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit_once(' '))
            .and_then(|(_, v)| v.parse().ok())
    }

    macro_rules! app {
        ($metrics:expr) => {
            test::init_service(
                App::new()
                    .wrap(RequestMetrics::new(
                        $metrics.clone(),
                        AccessLogSettings::default(),
                    ))
                    .configure(super::super::endpoints($metrics.clone()))
                    .service(
                        web::scope("/api")
                            .route("/products/{id}", web::get().to(product))
                            .route("/fail", web::get().to(failing))
                            .route("/export.csv", web::get().to(streamed)),
                    ),
            )
            .await
        };
    }

    #[actix_web::test]
    async fn a_request_is_labelled_by_its_route_pattern_not_its_path() {
        let metrics = Metrics::new();
        let app = app!(metrics);
        for id in [7, 8, 9] {
            let res = test::call_service(
                &app,
                test::TestRequest::get()
                    .uri(&format!("/api/products/{id}"))
                    .to_request(),
            )
            .await;
            assert_eq!(res.status(), 200);
            test::read_body(res).await;
        }
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/no/such/page/123")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 404);
        test::read_body(res).await;

        let text = metrics.render_prometheus();
        assert_eq!(
            line_value(
                &text,
                r#"brisk_http_requests_total{method="GET",route="/api/products/{id}",status="2xx"}"#
            ),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            line_value(
                &text,
                r#"brisk_http_requests_total{method="GET",route="unmatched",status="4xx"}"#
            ),
            Some(1.0)
        );
        assert!(!text.contains("/api/products/7"), "no raw path in labels");
        assert!(!text.contains("/no/such/page"), "no raw path in labels");
        assert_eq!(metrics.in_flight(), 0);
    }

    #[actix_web::test]
    async fn the_request_id_is_echoed_when_sane_and_generated_otherwise() {
        let metrics = Metrics::new();
        let app = app!(metrics);
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/api/products/1")
                .insert_header(("x-request-id", "abc-123"))
                .to_request(),
        )
        .await;
        assert_eq!(res.headers().get("x-request-id").unwrap(), "abc-123");
        let timing = res
            .headers()
            .get("server-timing")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            timing.starts_with("db;dur=0.000;desc=\"0 statements\", total;dur="),
            "{timing}"
        );

        let mut ids = vec![];
        for bad in ["has space", "quote\"d", &"x".repeat(200)] {
            let res = test::call_service(
                &app,
                test::TestRequest::get()
                    .uri("/api/products/1")
                    .insert_header(("x-request-id", bad))
                    .to_request(),
            )
            .await;
            let id = res
                .headers()
                .get("x-request-id")
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            assert_ne!(id, bad);
            assert_eq!(id.len(), 20, "generated id {id}");
            ids.push(id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 3, "generated ids are unique");
    }

    #[actix_web::test]
    async fn handler_errors_are_measured_as_server_errors() {
        let metrics = Metrics::new();
        let app = app!(metrics);
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/api/fail").to_request()).await;
        assert_eq!(res.status(), 500);
        assert!(res.headers().contains_key("x-request-id"));
        test::read_body(res).await;
        let text = metrics.render_prometheus();
        assert_eq!(
            line_value(
                &text,
                r#"brisk_http_requests_total{method="GET",route="/api/fail",status="5xx"}"#
            ),
            Some(1.0)
        );
    }

    #[actix_web::test]
    async fn a_streamed_body_is_timed_until_its_end() {
        let metrics = Metrics::new();
        let app = app!(metrics);
        let res = test::call_service(
            &app,
            test::TestRequest::get().uri("/api/export.csv").to_request(),
        )
        .await;
        // Headers are out but the body is not: still in flight, not yet recorded.
        assert_eq!(metrics.in_flight(), 1);
        let text = metrics.render_prometheus();
        assert!(!text.contains("/api/export.csv"));
        let body = test::read_body(res).await;
        assert_eq!(body.len(), 18);
        assert_eq!(metrics.in_flight(), 0);
        let text = metrics.render_prometheus();
        let sum = line_value(
            &text,
            r#"brisk_http_request_duration_seconds_sum{method="GET",route="/api/export.csv"}"#,
        )
        .unwrap();
        assert!(
            sum >= 0.060,
            "three 20 ms chunks are inside the measured time: {sum}"
        );
    }

    #[actix_web::test]
    async fn the_metrics_and_dashboard_endpoints_answer() {
        let metrics = Metrics::new();
        metrics.cache(CacheEvent::Hit);
        let app = app!(metrics);
        test::read_body(
            test::call_service(
                &app,
                test::TestRequest::get().uri("/api/products/5").to_request(),
            )
            .await,
        )
        .await;

        let res =
            test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            super::super::prometheus::CONTENT_TYPE
        );
        test::read_body(res).await;
        let res = test::call_service(
            &app,
            test::TestRequest::get().uri("/dashboard").to_request(),
        )
        .await;
        assert_eq!(res.status(), 200);
        let html = test::read_body(res).await;
        assert!(std::str::from_utf8(&html)
            .unwrap()
            .contains("/dashboard/app.js"));
        let data: serde_json::Value = test::read_body_json(
            test::call_service(
                &app,
                test::TestRequest::get()
                    .uri("/dashboard/data.json")
                    .to_request(),
            )
            .await,
        )
        .await;
        let keys: Vec<&str> = data["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap())
            .collect();
        assert!(keys.contains(&"GET /api/products/{id}"), "{keys:?}");
        assert!(keys.contains(&"GET /metrics"), "{keys:?}");
        assert_eq!(data["cache"]["hit"], 1);
        assert_eq!(data["cache_hit_ratio_total"], 1.0);
    }

    fn line() -> AccessLine<'static> {
        AccessLine {
            request_id: "r1",
            method: "GET",
            route: "/api/orders",
            path: "/api/orders",
            status: 200,
            elapsed_ms: 12.5,
            statements: 14,
            db_ms: 3.25,
            cache: Some("hit"),
            client: Some("10.0.0.7".parse().unwrap()),
            complete: true,
        }
    }

    #[actix_web::test]
    async fn the_access_line_is_key_value_text_or_one_json_object() {
        assert_eq!(
            line().render(false, None),
            "request_id=r1 client=10.0.0.7 method=GET route=/api/orders path=/api/orders status=200 \
             elapsed_ms=12.500 statements=14 db_ms=3.250 cache=hit"
        );
        let v: serde_json::Value = serde_json::from_str(&line().render(true, None)).unwrap();
        assert_eq!(v["route"], "/api/orders");
        assert_eq!(v["statements"], 14);
        assert_eq!(v["client"], "10.0.0.7");
        assert_eq!(v["cache"], "hit");
        let warn = line().render(
            true,
            Some(("n_plus_one", "14 statements (threshold 10)".into())),
        );
        let v: serde_json::Value = serde_json::from_str(&warn).unwrap();
        assert_eq!(v["warning"], "n_plus_one");
        assert!(line()
            .render(false, Some(("slow_request", "12.5 ms".into())))
            .starts_with("slow_request: 12.5 ms: request_id=r1"));
    }

    #[actix_web::test]
    async fn sane_request_ids_are_short_and_printable() {
        let ok = |s: &str| sane_request_id(&HeaderValue::from_str(s).unwrap()).is_some();
        assert!(ok("0af7651916cd43dd8448eb211c80319c"));
        assert!(ok("req:1/2+3=4_5.6-7"));
        assert!(!ok(""));
        assert!(!ok("a b"));
        assert!(!ok(&"a".repeat(129)));
    }
}
