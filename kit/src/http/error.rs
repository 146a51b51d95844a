//! The one status/code table and the JSON error body: every error answer of the
//! kit and of an application goes through [`ApiError`] (a dependency's
//! [`Failure`], authentication's, the limiter's 429, the bare statuses actix
//! answers itself). An application maps its use-case errors onto it
//! (`http::routes::errors`). Causes are logged, never sent.

use crate::authenticate::AuthError;
use crate::failure::Failure;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

/// An error answer: its status, code and detail come from one table ([`ApiError::status`]).
// Clone: a cached computation's error is shared with every caller waiting on it.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// 400: the detail names the field.
    BadRequest {
        /// The field's name.
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// 401: missing, unknown, malformed, expired or revoked credentials (one body).
    Unauthorized(String),
    /// 404: unknown route or a row the caller's tenant does not own.
    NotFound(String),
    /// 409: conflicting state (stock, in-flight idempotent request).
    Conflict {
        /// The snake_case code.
        code: &'static str,
        /// The sentence.
        detail: String,
    },
    /// 422: the request is well-formed but cannot be processed as sent.
    Unprocessable {
        /// The snake_case code.
        code: &'static str,
        /// The sentence.
        detail: String,
    },
    /// 429: a rate limit is exhausted.
    RateLimited {
        /// Which limit.
        detail: String,
        /// When to retry.
        retry_after_secs: u64,
    },
    /// 503: a dependency is saturated or down; retry shortly.
    Unavailable {
        /// What is unavailable.
        detail: String,
        /// When to retry.
        retry_after_secs: u64,
    },
    /// 500: logged with its cause; the client sees a generic sentence.
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

/// The one table: a bare status's code and default sentence.
fn code_for(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("bad_request", "the request is malformed"),
        401 => ("unauthorized", "missing or invalid API key"),
        404 => ("not_found", "no such resource"),
        405 => (
            "method_not_allowed",
            "the method is not allowed on this resource",
        ),
        408 => ("request_timeout", "the request was not received in time"),
        409 => ("conflict", "the request conflicts with the current state"),
        413 => ("payload_too_large", "the request body exceeds 1 MiB"),
        415 => ("unsupported_media_type", "the request body must be JSON"),
        422 => ("unprocessable", "the request cannot be processed as sent"),
        429 => ("rate_limited", "too many requests"),
        503 => (
            "service_unavailable",
            "the service is unavailable; retry shortly",
        ),
        s if s >= 500 => ("internal_error", "the server failed to handle the request"),
        _ => ("error", "the request failed"),
    }
}

/// The one 401 sentence, whatever was wrong with the key.
pub const UNAUTHORIZED_DETAIL: &str = "missing or invalid API key";

impl ApiError {
    /// 400 naming `field`.
    pub fn bad_request(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// 404 with a sentence.
    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::NotFound(detail.into())
    }

    /// 500; the cause is logged, never sent.
    pub fn internal(cause: impl fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    /// The status of this answer.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The snake_case code sent as `error`.
    pub fn code(&self) -> &str {
        match self {
            ApiError::Conflict { code, .. } | ApiError::Unprocessable { code, .. } => code,
            other => code_for(other.status()).0,
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::BadRequest { field, detail } => {
                if detail.contains(field.as_str()) {
                    detail.clone()
                } else {
                    format!("{field}: {detail}")
                }
            }
            ApiError::Unauthorized(d) | ApiError::NotFound(d) => d.clone(),
            ApiError::Conflict { detail, .. } | ApiError::Unprocessable { detail, .. } => {
                detail.clone()
            }
            ApiError::RateLimited { detail, .. } | ApiError::Unavailable { detail, .. } => {
                detail.clone()
            }
            ApiError::Internal(_) => code_for(StatusCode::INTERNAL_SERVER_ERROR).1.to_string(),
        }
    }

    /// The JSON body of this answer.
    pub fn body(&self) -> String {
        let retry_after = match self {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let detail = self.detail();
        serde_json::to_string(&ErrorBody {
            error: self.code(),
            detail: &detail,
            retry_after,
        })
        .unwrap_or_default()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Internal(cause) => write!(f, "internal error: {cause}"),
            other => write!(f, "{}: {}", other.code(), other.detail()),
        }
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    // Overridden: actix's default puts `Display` (the cause) in the body.
    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            log::error!("internal error: {cause}");
        }
        let mut resp = HttpResponse::build(self.status());
        match self {
            ApiError::RateLimited {
                retry_after_secs, ..
            }
            | ApiError::Unavailable {
                retry_after_secs, ..
            } => {
                resp.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unauthorized(_) => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        resp.content_type("application/json").body(self.body())
    }
}

/// The JSON error body for a bare status (404/405/413 from actix itself).
pub fn json_error_body(status: StatusCode) -> serde_json::Value {
    let (code, detail) = code_for(status);
    serde_json::json!({ "error": code, "detail": detail })
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::NotFound => ApiError::not_found("no such resource"),
            Failure::Unavailable {
                detail,
                retry_after_secs,
            } => ApiError::Unavailable {
                detail: detail.into(),
                retry_after_secs,
            },
            Failure::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Rejected => ApiError::Unauthorized(UNAUTHORIZED_DETAIL.into()),
            AuthError::Unavailable {
                detail,
                retry_after_secs,
            } => ApiError::Unavailable {
                detail,
                retry_after_secs,
            },
            AuthError::Internal(d) => ApiError::Internal(d),
        }
    }
}
