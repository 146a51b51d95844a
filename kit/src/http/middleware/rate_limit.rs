//! The guard's rate-limit step ([`limit`], run by `super::guard` after authentication,
//! which put the `AuthContext` in the request extensions), also usable alone as a
//! middleware ([`rate_limit`]).
//!
//! Per request: the route the router will run (`route::route_pattern`, never the raw
//! path text; `None` → an unknown route, not limited, left to 404), the `AuthContext` (absent on `/v1/login`), the client address (trusted hops),
//! then one limiter decision (with the address's failed-authentication limit as a guard
//! when the authentication middleware left a `FailureCheckDue`), sent together with the
//! cache read the route declared, if any ([`super::prefetch`]). A refused request gets 429 (`ApiError::RateLimited`, with
//! `Retry-After` and `retry_after` in the body) without reaching the handler; every
//! response of a limited route, errors included, carries the `X-RateLimit-*` and
//! `RateLimit`/`RateLimit-Policy` headers.
//!
//! The `Limiter` comes from app data: register `web::Data<Limiter>` (or give the App a
//! `Limiter` through `App::app_data(web::Data::new(limiter))`). Without one, requests pass.

use super::prefetch::RoutePrefetches;
use crate::cache::prefetch::Prefetch;
use crate::caller::AuthContext;
use crate::http::error::ApiError;
use crate::ratelimit::client_ip::client_ip;
use crate::ratelimit::failures::FailureCheckDue;
use crate::ratelimit::{Decision, Limiter, Rejection};
use crate::route::route_pattern;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse, ResponseError};
use std::future::Future;
use std::net::IpAddr;

/// The rate-limit step alone, as a middleware (`from_fn(rate_limit)`), for an `App`
/// that authenticates by other means; the kit's pipeline runs [`limit`] in its guard.
pub async fn rate_limit<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let limits = limiter_of(&req);
    limit(req, limits, |req| next.call(req)).await
}

/// The request's limiter (app data) and its client address (trusted hops), resolved
/// once per request for authentication and limits alike.
pub(crate) fn limiter_of(req: &ServiceRequest) -> Option<(Limiter, IpAddr)> {
    let limiter = req.app_data::<web::Data<Limiter>>()?.get_ref().clone();
    let ip = client_ip(
        req.peer_addr().map(|a| a.ip()),
        req.headers(),
        limiter.trusted_hops(),
    );
    Some((limiter, ip))
}

/// Decides every limit of the request's route in one limiter call, then runs `inner`
/// (the handler) with the limit headers added to its answer, or answers 429.
pub(crate) async fn limit<B, F, Fut>(
    req: ServiceRequest,
    limiter: Option<(Limiter, IpAddr)>,
    inner: F,
) -> Result<ServiceResponse<EitherBody<B>>, Error>
where
    B: MessageBody,
    F: FnOnce(ServiceRequest) -> Fut,
    Fut: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    let limits = limiter.as_ref().and_then(|(limiter, ip)| {
        let pattern = route_pattern(&req)?;
        let auth = req.extensions().get::<AuthContext>().copied();
        limiter
            .limits_for(req.method(), &pattern, auth.as_ref(), *ip)
            .map(|l| (limiter.clone(), l))
    });
    let limiter = limiter.map(|(l, _)| l);
    // A remembered key: its address's failure limit is checked here (auth left this).
    let due = req.extensions_mut().remove::<FailureCheckDue>();
    let Some((limiter, limits)) = limits else {
        if let (Some(due), Some(limiter)) = (due, &limiter) {
            if let Some(refused) = limiter.failures_exceeded(due.ip).await {
                return Ok(req.into_response(refusal(&refused)).map_into_right_body());
            }
        }
        return inner(req).await.map(ServiceResponse::map_into_left_body);
    };
    let decide = async {
        match due {
            Some(due) => limiter.decide_after_failures(due.ip, &limits).await,
            None => limiter.decide(&limits).await,
        }
    };
    // The route's cached read goes out with the decision: one round trip for both.
    let early = req.app_data::<web::Data<RoutePrefetches>>();
    let (decision, early) = match early.and_then(|p| p.start(&req)) {
        Some(read) => futures_util::join!(decide, read),
        None => (decide.await, Prefetch::none()),
    };
    if !decision.allowed {
        return Ok(req.into_response(refusal(&decision)).map_into_right_body());
    }
    // (Cloning the HttpRequest here would break routing: it needs the only reference.)
    match early.scope(inner(req)).await {
        Ok(res) => {
            let mut res = res.map_into_left_body();
            apply_headers(&decision, res.headers_mut());
            Ok(res)
        }
        // An inner middleware's error: keep it an error, with the headers on its response.
        Err(e) => {
            let mut resp = e.error_response();
            apply_headers(&decision, resp.headers_mut());
            Err(InternalError::from_response(e, resp).into())
        }
    }
}

/// The 429 of a refused decision: `{"error":"rate_limited","detail":…,"retry_after":N}`
/// with `Retry-After: N` and the decision's limit headers.
pub fn refusal(decision: &Decision) -> HttpResponse {
    let rejection = decision.rejection().unwrap_or_else(|| Rejection {
        retry_after_secs: 1,
        detail: "rate limit exceeded".into(),
    });
    let mut resp = ApiError::RateLimited {
        detail: rejection.detail,
        retry_after_secs: rejection.retry_after_secs,
    }
    .error_response();
    apply_headers(decision, resp.headers_mut());
    resp
}

/// Sets the decision's limit headers, replacing any of the same name.
fn apply_headers(decision: &Decision, headers: &mut HeaderMap) {
    for (name, value) in decision.headers() {
        // Every value is ASCII (numbers, route names filtered to [A-Za-z0-9._-]).
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
}

#[cfg(test)]
mod tests;
