//! The one API error type: maps each case to a status in one place and renders
//! `{"error": "<code>", "detail": "<sentence>"}`. Causes are logged, never sent.

use crate::db::DbError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

// Clone: a cached computation's error is shared with every caller waiting on it.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// 400: the detail names the field.
    BadRequest { field: String, detail: String },
    /// 401: missing, unknown or expired credentials.
    Unauthorized(String),
    /// 404: unknown route or a row the caller's tenant does not own.
    NotFound(String),
    /// 409: conflicting state (stock, in-flight idempotent request).
    Conflict { code: &'static str, detail: String },
    /// 422: the request is well-formed but cannot be processed as sent.
    Unprocessable { code: &'static str, detail: String },
    /// 429: a rate limit is exhausted.
    RateLimited {
        detail: String,
        retry_after_secs: u64,
    },
    /// 503: a dependency is saturated or down; retry shortly.
    Unavailable {
        detail: String,
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

impl ApiError {
    pub fn bad_request(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: field.into(),
            detail: detail.into(),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::NotFound(detail.into())
    }

    pub fn internal(cause: impl fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    /// The snake_case code sent as `error`.
    pub fn code(&self) -> &str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict { code, .. } => code,
            ApiError::Unprocessable { code, .. } => code,
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable { .. } => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
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
            ApiError::Internal(_) => "the server failed to handle the request".to_string(),
        }
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

    // Overridden: actix's default puts `Display` (the cause) in the body.
    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            log::error!("internal error: {cause}");
        }
        let retry_after = match self {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let detail = self.detail();
        let body = ErrorBody {
            error: self.code(),
            detail: &detail,
            retry_after,
        };
        let mut resp = HttpResponse::build(self.status_code());
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
        resp.json(body)
    }
}

// The data layer's errors as the API has always answered them: a missing row is 404,
// saturation and outages are 503 with `Retry-After: 1`, anything else is a 500 whose
// cause is logged. (Moves to `http/error.rs` with the rest of the table.)
impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        let unavailable = |detail: String| ApiError::Unavailable {
            detail,
            retry_after_secs: 1,
        };
        match e {
            DbError::NotFound => ApiError::not_found("no such resource"),
            DbError::PoolTimeout { waited } => unavailable(format!(
                "no database connection became free within {} ms",
                waited.as_millis()
            )),
            DbError::Unreachable(_) => unavailable("the database is unavailable".into()),
            DbError::ConnectionLost(_) => unavailable("the database connection was lost".into()),
            DbError::StatementTimeout(_) => {
                unavailable("the database did not answer in time".into())
            }
            DbError::Query(cause) => ApiError::internal(cause),
        }
    }
}

/// Renders the JSON error body for a bare status (404/405/413 from actix itself).
pub fn json_error_body(status: StatusCode) -> serde_json::Value {
    let (code, detail) = match status.as_u16() {
        404 => ("not_found", "no such resource"),
        405 => (
            "method_not_allowed",
            "the method is not allowed on this resource",
        ),
        413 => ("payload_too_large", "the request body exceeds 1 MiB"),
        400 => ("bad_request", "the request is malformed"),
        401 => ("unauthorized", "missing or invalid API key"),
        415 => ("unsupported_media_type", "the request body must be JSON"),
        s if s >= 500 => ("internal_error", "the server failed to handle the request"),
        _ => ("error", "the request failed"),
    };
    serde_json::json!({ "error": code, "detail": detail })
}
