//! Scopes a [`RedisBudget`] around each request, outside authentication: once one
//! Redis call of the request fails (the API-key memo, the limiter, a cached read, a
//! write's invalidations), its later Redis calls skip Redis instead of paying another
//! timeout (`crate::redis::budget`).

use crate::redis::budget::RedisBudget;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// The middleware function (`from_fn`).
pub async fn per_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    RedisBudget::default().scope(next.call(req)).await
}
