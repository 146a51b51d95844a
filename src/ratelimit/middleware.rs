//! The rate-limit middleware (`actix_web::middleware::from_fn(rate_limit)`), registered
//! inside the authentication middleware (it reads the `AuthContext` that auth put in the
//! request extensions) and outside the handlers.
//!
//! Per request: the matched route pattern (`None` → an unknown route, not limited, left to
//! 404), the `AuthContext` (absent on `/api/login`), the client address (trusted hops),
//! then one limiter decision. A refused request gets 429 (`ApiError::RateLimited`) without
//! reaching the handler; every response of a limited route, errors included, carries the
//! `X-RateLimit-*` and `RateLimit`/`RateLimit-Policy` headers.
//!
//! The `Limiter` comes from app data: register `web::Data<Limiter>` (or give the App a
//! `Limiter` through `App::app_data(web::Data::new(limiter))`). Without one, requests pass.

use super::client_ip::client_ip;
use super::Limiter;
use crate::caller::AuthContext;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, ResponseError};

/// The middleware function; wrap with `actix_web::middleware::from_fn(rate_limit)`.
pub async fn rate_limit<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let limiter = req
        .app_data::<web::Data<Limiter>>()
        .map(|d| d.get_ref().clone());
    let limits = limiter.as_ref().and_then(|limiter| {
        let pattern = req.match_pattern()?;
        let ip = client_ip(
            req.peer_addr().map(|a| a.ip()),
            req.headers(),
            limiter.settings().trusted_hops,
        );
        let auth = req.extensions().get::<AuthContext>().copied();
        limiter
            .limits_for(req.method(), &pattern, auth.as_ref(), ip)
            .map(|l| (limiter.clone(), l))
    });
    let Some((limiter, limits)) = limits else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let decision = limiter.decide(&limits).await;
    if !decision.allowed {
        let mut resp = decision.error().error_response();
        decision.apply_headers(resp.headers_mut());
        return Ok(req.into_response(resp).map_into_right_body());
    }
    // (Cloning the HttpRequest here would break routing: it needs the only reference.)
    match next.call(req).await {
        Ok(res) => {
            let mut res = res.map_into_left_body();
            decision.apply_headers(res.headers_mut());
            Ok(res)
        }
        // An inner middleware's error: keep it an error, with the headers on its response.
        Err(e) => {
            let mut resp = e.error_response();
            decision.apply_headers(resp.headers_mut());
            Err(InternalError::from_response(e, resp).into())
        }
    }
}
