//! Every conversion of an error into a response, and the one status/code table:
//! use-case errors, the database's, authentication's, the limiter's 429, the
//! replayed idempotent answer and the bare statuses actix answers itself. Causes
//! are logged, never sent.

use crate::app::ordering::OrderingError;
use crate::app::orders::OrderReadError;
use crate::app::products::ProductError;
use crate::app::reads::ReadError;
use crate::app::sessions::SessionError;
use crate::authenticate::AuthError;
use crate::db::DbError;
use crate::domain::ordering::OrderRejection;
use crate::domain::orders::InvalidInput;
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
        405 => ("method_not_allowed", "the method is not allowed on this resource"),
        408 => ("request_timeout", "the request was not received in time"),
        409 => ("conflict", "the request conflicts with the current state"),
        413 => ("payload_too_large", "the request body exceeds 1 MiB"),
        415 => ("unsupported_media_type", "the request body must be JSON"),
        422 => ("unprocessable", "the request cannot be processed as sent"),
        429 => ("rate_limited", "too many requests"),
        503 => ("service_unavailable", "the service is unavailable; retry shortly"),
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

// Saturation and outages are 503 with `Retry-After: 1`; a missing row is 404;
// anything else is a 500 whose cause is logged.
impl From<&DbError> for ApiError {
    fn from(e: &DbError) -> Self {
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

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        ApiError::from(&e)
    }
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError::bad_request(e.field, e.detail)
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::NotFound(d) => ApiError::NotFound(d),
            ReadError::Db(e) => e.as_ref().into(),
            ReadError::Internal(d) => ApiError::Internal(d),
        }
    }
}

impl From<ProductError> for ApiError {
    fn from(e: ProductError) -> Self {
        match e {
            ProductError::Invalid(i) => i.into(),
            ProductError::NotFound(id) => ApiError::not_found(format!("no product with id {id}")),
            ProductError::Db(e) => e.into(),
        }
    }
}

impl From<OrderReadError> for ApiError {
    fn from(e: OrderReadError) -> Self {
        match e {
            OrderReadError::NotFound(id) => ApiError::not_found(format!("no order with id {id}")),
            OrderReadError::Db(e) => e.into(),
            OrderReadError::Read(e) => e.into(),
        }
    }
}

impl From<OrderRejection> for ApiError {
    fn from(r: OrderRejection) -> Self {
        match r {
            OrderRejection::CustomerNotFound(id) => {
                ApiError::not_found(format!("customer {id} not found"))
            }
            OrderRejection::ProductNotFound(id) => {
                ApiError::not_found(format!("product {id} not found"))
            }
            OrderRejection::InsufficientStock {
                product_id,
                requested,
                available,
            } => ApiError::Conflict {
                code: "insufficient_stock",
                detail: format!("product {product_id}: {requested} requested, {available} in stock"),
            },
            OrderRejection::TotalOverflow => ApiError::Unprocessable {
                code: "total_out_of_range",
                detail: "the order's total exceeds what can be stored".into(),
            },
        }
    }
}

impl From<OrderingError> for ApiError {
    fn from(e: OrderingError) -> Self {
        match e {
            OrderingError::Invalid(i) => i.into(),
            OrderingError::Rejected(r) => r.into(),
            OrderingError::KeyReused => ApiError::Unprocessable {
                code: "idempotency_key_reused",
                detail: "Idempotency-Key was already used with a different body".into(),
            },
            OrderingError::InFlight => ApiError::Conflict {
                code: "idempotency_in_flight",
                detail: "a request with this Idempotency-Key is still being processed".into(),
            },
            OrderingError::Db(e) => e.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Invalid { field, detail } => ApiError::bad_request(field, detail),
            SessionError::BadCredentials => {
                ApiError::Unauthorized("invalid email or password".into())
            }
            SessionError::Db(e) => e.into(),
            SessionError::Internal(d) => ApiError::Internal(d),
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

/// How an order rejection is answered, stored with its idempotency key so a
/// retry gets the same bytes (handed to `app::ordering` by the handler).
pub fn rejection_answer(e: &OrderingError) -> (u16, String) {
    let answer = match e {
        OrderingError::Rejected(r) => ApiError::from(r.clone()),
        other => ApiError::internal(format!("unexpected answer to store: {other}")),
    };
    (answer.status().as_u16(), answer.body())
}

/// A replayed idempotent answer: the first answer's status and bytes.
pub fn replayed(status: u16, body: String) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .insert_header(("Idempotent-Replayed", "true"))
        .content_type("application/json")
        .body(body)
}
