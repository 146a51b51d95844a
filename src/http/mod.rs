//! The HTTP layer: routes, extractors, middleware, and the `App` every worker runs.

pub mod conditional;
pub mod extract;
pub mod middleware;
pub mod precompressed;
pub mod routes;

use crate::error::ApiError;
use crate::metrics::{self, RequestMetrics};
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Compress, Condition};
use actix_web::{web, App, Error};

/// The application of one worker. The middleware chain, outermost first:
/// request metrics and access log (`metrics::RequestMetrics`) → compression →
/// JSON errors and the 1 MiB body limit → authentication → rate limiting →
/// statement counting → routes.
pub fn build_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let settings = state.settings.clone();
    let trusted_hops = settings.server.trusted_hops;
    App::new()
        .app_data(web::Data::new(state.limiter.clone()))
        .app_data(state.clone())
        .app_data(web::PayloadConfig::new(middleware::errors::MAX_BODY_BYTES))
        .app_data(
            web::PathConfig::default()
                .error_handler(|_, _| ApiError::not_found("no such resource").into()),
        )
        .configure(routes::configure)
        .configure(metrics::endpoints(state.metrics.clone()))
        .default_service(web::to(routes::not_found))
        .wrap(from_fn(middleware::queries::count_statements))
        .wrap(from_fn(middleware::rate_limit::rate_limit))
        .wrap(from_fn(middleware::auth::require_api_key))
        .wrap(from_fn(middleware::errors::json_errors))
        .wrap(Compress::default())
        .wrap(Condition::new(
            settings.metrics.metrics_middleware,
            RequestMetrics::new(
                state.metrics.clone(),
                settings
                    .metrics
                    .access_log_settings(settings.server.log_format),
            )
            .with_client_addr(std::sync::Arc::new(
                move |req: &actix_web::HttpRequest| {
                    // The same trusted-hops resolution as the rate limiter's.
                    Some(crate::ratelimit::client_ip::client_ip(
                        req.peer_addr().map(|a| a.ip()),
                        req.headers(),
                        trusted_hops,
                    ))
                },
            )),
        ))
}
