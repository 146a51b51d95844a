//! `GET /api/dashboard`: today's orders and revenue, top products of 30 days.
//! Per-tenant data: never cached under a shared key.

use crate::app::OrderApp;
use crate::http::error::ApiError;
use crate::http::extract::auth::Caller;
use actix_web::{web, HttpResponse};

/// The handler.
pub async fn dashboard(
    app: web::Data<OrderApp>,
    Caller(caller): Caller,
) -> Result<HttpResponse, ApiError> {
    let figures = app
        .dashboard(caller.tenant_id, caller.plan.as_str(), chrono::Utc::now())
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "private, no-store"))
        .json(figures))
}
