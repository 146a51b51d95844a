//! The presented API key (`Authorization: Bearer <key>` or `X-API-Key: <key>`), and
//! the extractor handlers use for the caller the auth middleware resolved.

use crate::caller::AuthContext;
use crate::http::error::{ApiError, UNAUTHORIZED_DETAIL};
use actix_web::dev::Payload;
use actix_web::http::header::HeaderMap;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use std::future::{ready, Ready};

/// The presented key, if any.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some(v[7..].trim());
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Extractor for handlers: the caller's tenant, put there by the auth middleware.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub AuthContext);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<AuthContext>()
                .copied()
                .map(Caller)
                .ok_or_else(|| ApiError::Unauthorized(UNAUTHORIZED_DETAIL.into())),
        )
    }
}
