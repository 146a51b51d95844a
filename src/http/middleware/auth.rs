//! Authenticates every matched `/api/*` route except login, before rate limiting,
//! and stores the caller's `AuthContext` in the request extensions. Unmatched
//! paths pass through untouched so they answer 404 with or without a key.

use crate::error::ApiError;
use crate::http::extract::auth::authenticate;
use crate::state::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};

/// Routes that need no key.
const PUBLIC_API_ROUTES: [&str; 1] = ["/api/login"];

pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let needs_key = match req.match_pattern() {
        Some(p) => p.starts_with("/api/") && !PUBLIC_API_ROUTES.contains(&p.as_str()),
        None => false,
    };
    if needs_key {
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            let err = ApiError::internal("application state missing");
            let resp = err.error_response().map_into_right_body();
            return Ok(req.into_response(resp));
        };
        match authenticate(&state, req.headers()).await {
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
