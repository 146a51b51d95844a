//! `GET /api/dashboard`: today's orders and revenue, top products of 30 days.
//! Per-tenant data: never cached under a shared key.

use crate::app::dashboard::Dashboard;
use crate::app::OrderApp;
use actix_web::{web, HttpResponse};
use brisk_kit::http::error::ApiError;
use brisk_kit::http::extract::auth::Caller;

/// The tenant's figures.
///
/// Today's orders and revenue (UTC day, non-cancelled orders for revenue) and the
/// top five products by units over the last 30 days. Never cached.
#[utoipa::path(
    get,
    path = "/api/dashboard",
    tag = "orders",
    responses(
        (status = 200, description = "The figures", body = Dashboard,
            headers(("Cache-Control" = String, description = "`private, no-store`"))),
    )
)]
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
