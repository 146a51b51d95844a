//! Authenticates every matched route the application protects, before rate
//! limiting, through the application's [`Authenticate`] hook, and stores the
//! caller's `AuthContext` in the request extensions. Unmatched paths pass through
//! untouched so they answer 404 with or without a key.

use crate::authenticate::Authenticate;
use crate::http::error::{ApiError, UNAUTHORIZED_DETAIL};
use crate::http::extract::auth::presented_key;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use std::sync::Arc;

/// Which matched routes need a key: those under `prefix` except `public` ones.
#[derive(Clone)]
pub struct Protection {
    /// The hook that resolves a key.
    pub authenticator: Arc<dyn Authenticate>,
    /// Route patterns starting with this need a key (e.g. `/api/`).
    pub prefix: String,
    /// Route patterns under `prefix` that need none (e.g. `/api/login`).
    pub public: Vec<String>,
}

impl Protection {
    fn needs_key(&self, pattern: &str) -> bool {
        pattern.starts_with(&self.prefix) && !self.public.iter().any(|p| p == pattern)
    }
}

/// The middleware (`from_fn`); a no-op when the application protects nothing.
pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let protection = req.app_data::<web::Data<Protection>>().cloned();
    let needs_key = match (&protection, req.match_pattern()) {
        (Some(p), Some(pattern)) => p.needs_key(&pattern),
        _ => false,
    };
    if let (true, Some(protection)) = (needs_key, protection) {
        let outcome = match presented_key(req.headers()) {
            None => Err(ApiError::Unauthorized(UNAUTHORIZED_DETAIL.into())),
            Some(key) => protection
                .authenticator
                .authenticate(key)
                .await
                .map_err(ApiError::from),
        };
        match outcome {
            Ok(ctx) => {
                req.extensions_mut().insert(ctx);
            }
            Err(err) => {
                let resp = err.error_response().map_into_right_body();
                return Ok(req.into_response(resp));
            }
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
