//! Scopes a [`RedisBudget`] around each request, outside authentication: once one
//! Redis call of the request fails (the API-key memo, the limiter, a cached read, a
//! write's invalidations), its later Redis calls skip Redis instead of paying another
//! timeout (`crate::redis::budget`).

use crate::redis::budget::RedisBudget;
use actix_web::dev::{Service, ServiceRequest};
use std::future::Future;

/// The middleware function, for `App::wrap_fn` (a plain wrapper: no boxed future per
/// request, which `from_fn` would cost on every request).
pub fn per_request<S>(
    req: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<S::Response, S::Error>>
where
    S: Service<ServiceRequest>,
{
    RedisBudget::default().scope(service.call(req))
}
