//! `GET /api/export.csv`: every order of the tenant, streamed from the database in
//! keyset chunks (`app::export`). The answer is `200` only once an export slot is
//! taken and the first chunk is read: too many exports → 429, the pool saturated →
//! 503, both with `Retry-After` and before any byte of the file.

use crate::app::OrderApp;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use brisk_kit::http::error::ApiError;
use brisk_kit::http::extract::auth::Caller;
use brisk_kit::metrics::RequestStatements;
use futures_util::TryStreamExt;

/// Every order of the tenant as CSV.
///
/// Ordered by id, LF line ends, header `id,customer_id,status,total_cents,created_at`;
/// streamed from the database in chunks. Limited to 1 per day per tenant by default,
/// and to a few concurrent exports per process (`--max-concurrent-exports`, 4 by
/// default; beyond → 429). The 200 comes only once the first chunk is read: a
/// saturated pool answers 503, never a file cut short.
#[utoipa::path(
    get,
    path = "/api/export.csv",
    tag = "orders",
    responses(
        (status = 200, description = "The orders", content_type = "text/csv", body = String,
            headers(
                ("Content-Disposition" = String, description = "`attachment; filename=\"orders.csv\"`"),
                ("Cache-Control" = String, description = "`no-store`"),
            ),
            example = json!("id,customer_id,status,total_cents,created_at\n1,7,paid,4999,2026-03-04T05:06:07.123456Z\n")),
    )
)]
pub async fn export_csv(
    app: web::Data<OrderApp>,
    Caller(caller): Caller,
) -> Result<HttpResponse, ApiError> {
    let statements = RequestStatements::current().unwrap_or_default();
    let chunks = app
        .export_csv(caller.tenant_id, statements)
        .await?
        .map_err(ApiError::from);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"orders.csv\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(chunks))
}
