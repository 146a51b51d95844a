//! The HTTP pipeline: middleware, extractors, the error table, the operations endpoints, and the `App` every worker runs.

pub mod conditional;
pub mod deadline;
pub mod docs;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod ops;
pub mod precompressed;

use crate::http::error::ApiError;
use crate::http::middleware::auth::Protection;
use crate::http::middleware::prefetch::RoutePrefetches;
use crate::http::precompressed::Precompressed;
use crate::metrics::{MetricsConfig, RequestMetrics};
use crate::services::Services;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Compress, Condition};
use actix_web::{web, App, Error};

/// A handler set (an actix `ServiceConfig` function).
pub type Routes = dyn Fn(&mut web::ServiceConfig) + Send + Sync;

/// The API application of one worker. Its layers, outermost first (the first is added
/// by `startup`, around this app): the drain's accounting and the slow-client deadlines
/// (one `wrap_fn`) → request metrics and access log (`metrics::RequestMetrics`, off
/// by its own switch) → `HEAD` served as its `GET` and an unsatisfiable `Accept-Encoding`
/// dropped (one `wrap_fn`: outside compression, which reads that header, and inside the
/// metrics, which record the method as sent) → compression → the guard (`middleware::guard`: JSON errors and the
/// 1 MiB body limit, the Redis budget, authentication, every limit in one limiter call,
/// statement counting) → the application's routes and the kit's own (`/health`, and
/// the `operations` endpoints when they are served here).
pub fn build_app(
    services: &Services,
    variants: &Precompressed,
    routes: &Routes,
    operations: Option<&Routes>,
    protection: Option<Protection>,
    prefetches: &RoutePrefetches,
    metrics_config: &MetricsConfig,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let trusted_hops = services.limiter.trusted_hops();
    let mut app = App::new()
        .app_data(web::Data::new(services.limiter.clone()))
        .app_data(web::Data::new(services.clone()))
        .app_data(web::Data::new(variants.clone()))
        .app_data(web::Data::new(prefetches.clone()))
        .app_data(web::PayloadConfig::new(middleware::errors::MAX_BODY_BYTES))
        .app_data(
            web::PathConfig::default()
                .error_handler(|_, _| ApiError::not_found("no such resource").into()),
        );
    if let Some(protection) = protection {
        app = app.app_data(web::Data::new(protection));
    }
    // The router (and `route::route_pattern`) tries resources in registration order,
    // and a dynamic pattern costs a regex match: the kit's /health and /ready first (a
    // load balancer's probe should not pay for every application route), then the
    // application's routes, then its operations endpoints (`/docs/{file}` is dynamic
    // and rarely asked for, so API requests should not try it first).
    app = app.configure(ops::configure).configure(routes);
    if let Some(operations) = operations {
        app = app.configure(operations);
    }
    app.default_service(web::to(ops::not_found))
        .wrap(from_fn(middleware::guard::guard))
        .wrap(Condition::new(variants.enabled(), Compress::default()))
        // One layer outside compression, inside metrics: an unsatisfiable
        // Accept-Encoding is dropped and a HEAD is served as its GET.
        .wrap_fn(|req, srv| {
            middleware::head::head_as_get(middleware::encoding::drop_unsatisfiable(req), srv)
        })
        .wrap(
            RequestMetrics::new(services.metrics.clone(), metrics_config.access_log.clone())
                .with_client_addr(std::sync::Arc::new(move |req: &actix_web::HttpRequest| {
                    // The same trusted-hops resolution as the rate limiter's.
                    Some(crate::ratelimit::client_ip::client_ip(
                        req.peer_addr().map(|a| a.ip()),
                        req.headers(),
                        trusted_hops,
                    ))
                }))
                .with_server_timing(metrics_config.server_timing)
                .with_enabled(metrics_config.middleware),
        )
}

/// The operations listener's application: `/health` and the `operations`
/// endpoints, with JSON errors, compression and the slow-client deadlines; no key,
/// no limits, not measured as API traffic.
pub fn build_admin_app(
    operations: &Routes,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(ops::configure)
        .configure(operations)
        .default_service(web::to(ops::not_found))
        .wrap(from_fn(middleware::errors::json_errors))
        .wrap(Compress::default())
        .wrap_fn(|req, srv| {
            middleware::head::head_as_get(middleware::encoding::drop_unsatisfiable(req), srv)
        })
        .wrap_fn(middleware::deadline::deadlines)
}
