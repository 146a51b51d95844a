//! The guard: the one middleware between compression and the handlers. Per request,
//! in order:
//!
//! 0. JSON errors ([`super::errors`]): a body declared over 1 MiB or a malformed query
//!    string is refused before anything else, and every error answered inside (the
//!    router's 404 and 405, extractors' 400 and 413) is rendered as the contract's JSON;
//! 1. a Redis budget for the whole request (`crate::redis::budget`): once one Redis
//!    call fails (the key memo, the limiter, a cached read, a write's invalidations),
//!    the later ones skip Redis instead of paying another timeout;
//! 2. the limiter and the client address (trusted hops), resolved once;
//! 3. authentication of a protected route ([`super::auth`]), whose failed-authentication
//!    guard rides the limiter call below for a key this process already remembers;
//! 4. every limit of the route in one limiter call ([`super::rate_limit`]), or a 429;
//! 5. the handler, with the statement counter the metrics layer made for the request
//!    in scope (authentication runs outside it, so its memoized look-up is not
//!    counted); the metrics layer reads it for `/metrics`, the access line and
//!    `Server-Timing`. Without the metrics layer nothing reads it, so none is made.

use super::{auth, errors, rate_limit};
use crate::metrics::RequestStatements;
use crate::redis::budget::RedisBudget;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use std::future::Future;
use std::pin::Pin;

/// The middleware function; `App::wrap(from_fn(guard))`.
///
/// Boxed on purpose: `from_fn` keeps its function's future inline, and this one
/// (authentication, every limit, the budget scope) is several KB. Inline, each layer
/// outside it and actix's dispatcher moved it again per request: 236k instructions
/// per `/health` request against 43k before the layers were folded (callgrind,
/// `scripts/callgrind.sh`), 85 % of them in memcpy. One allocation costs less.
pub fn guard<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Pin<Box<dyn Future<Output = Result<ServiceResponse<impl MessageBody>, Error>>>> {
    Box::pin(errors::around(req, move |req| guarded(req, next)))
}

/// Steps 1 to 5, inside the Redis budget.
async fn guarded<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    RedisBudget::default()
        .scope(async move {
            let limiter = rate_limit::limiter_of(&req);
            let for_limits = limiter.clone();
            auth::authenticate(req, limiter, move |req| {
                rate_limit::limit(req, for_limits, move |req| count_statements(req, next))
            })
            .await
        })
        .await
}

/// Runs the handler with the request's statement counter, if any, in scope.
async fn count_statements<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let counter = req.extensions().get::<RequestStatements>().cloned();
    match counter {
        Some(counter) => counter.scope(next.call(req)).await,
        None => next.call(req).await,
    }
}
