//! `GET /api/dashboard`: today's orders and revenue, top products of 30 days.
//! Per-tenant data: never cached under a shared key.

use crate::db::queries::dashboard;
use crate::error::ApiError;
use crate::http::extract::auth::Caller;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use chrono::{Duration, Utc};
use serde_json::json;

pub async fn dashboard(
    state: web::Data<AppState>,
    Caller(caller): Caller,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let today = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(now);
    let since = now - Duration::days(30);
    let tenant = caller.tenant_id;
    let figures = state
        .db
        .read(move |c| Box::pin(dashboard::figures(c, tenant, today, since)))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "private, no-store"))
        .json(json!({
            "tenant_id": tenant,
            "plan": caller.plan,
            "orders_today": figures.orders_today,
            "revenue_today_cents": figures.revenue_today_cents,
            "top_products": figures.top_products,
        })))
}
