//! The order application's errors as answers: each use case's error enum mapped
//! onto the kit's [`ApiError`] (whose one table gives status and code), the stored
//! answer of a rejected idempotent order, and a replayed one.

use crate::app::export::{ExportError, BUSY_RETRY_AFTER_SECS};
use crate::app::ordering::OrderingError;
use crate::app::orders::OrderReadError;
use crate::app::products::ProductError;
use crate::app::read_error::ReadError;
use crate::app::sessions::SessionError;
use crate::domain::ordering::OrderRejection;
use crate::domain::orders::InvalidInput;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use brisk_kit::failure::Failure;
use brisk_kit::http::error::ApiError;

/// A database failure inside a use case, classified by the kit.
fn db<E>(e: &E) -> ApiError
where
    for<'a> Failure: From<&'a E>,
{
    Failure::from(e).into()
}

// Saturation and outages are 503 with `Retry-After: 1`; a missing row is 404;
// anything else is a 500 whose cause is logged.
impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError::bad_request(e.field, e.detail)
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::NotFound(d) => ApiError::NotFound(d),
            ReadError::Db(e) => db(&e),
            ReadError::Internal(d) => ApiError::Internal(d),
        }
    }
}

impl From<ProductError> for ApiError {
    fn from(e: ProductError) -> Self {
        match e {
            ProductError::Invalid(i) => i.into(),
            ProductError::NotFound(id) => ApiError::not_found(format!("no product with id {id}")),
            ProductError::Db(e) => db(&e),
        }
    }
}

impl From<OrderReadError> for ApiError {
    fn from(e: OrderReadError) -> Self {
        match e {
            OrderReadError::NotFound(id) => ApiError::not_found(format!("no order with id {id}")),
            OrderReadError::Db(e) => db(&e),
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
                detail: format!(
                    "product {product_id}: {requested} requested, {available} in stock"
                ),
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
            OrderingError::Db(e) => db(&e),
        }
    }
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Busy { running } => ApiError::RateLimited {
                detail: format!("{running} exports are already running in this process"),
                retry_after_secs: BUSY_RETRY_AFTER_SECS,
            },
            ExportError::Db(e) => db(&e),
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
            SessionError::Db(e) => db(&e),
            SessionError::Internal(d) => ApiError::Internal(d),
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
