//! `GET /api/export.csv`: every order of the tenant, streamed from the database in
//! keyset chunks (`app::export`). The answer is `200` only once an export slot is
//! taken and the first chunk is read: too many exports → 429, the pool saturated →
//! 503, both with `Retry-After` and before any byte of the file.

use crate::app::OrderApp;
use crate::http::error::ApiError;
use crate::http::extract::auth::Caller;
use crate::metrics::RequestQueries;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use futures_util::TryStreamExt;

/// The handler.
pub async fn export_csv(
    app: web::Data<OrderApp>,
    Caller(caller): Caller,
) -> Result<HttpResponse, ApiError> {
    let queries = RequestQueries::current().unwrap_or_default();
    let chunks = app
        .export_csv(caller.tenant_id, queries)
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
