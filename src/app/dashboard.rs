//! The tenant dashboard: today's orders and revenue (UTC day), and the top five
//! products by units over the last 30 days. Per-tenant data: never cached under a
//! shared key.

use crate::db::queries::dashboard::{self, TopProduct};
use brisk_kit::db::pool::DbPool;
use brisk_kit::db::DbError;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// `GET /api/dashboard` body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    /// The caller's tenant.
    pub tenant_id: i64,
    /// Its plan's name.
    pub plan: &'static str,
    /// Orders created today.
    pub orders_today: i64,
    /// Revenue of today's non-cancelled orders.
    pub revenue_today_cents: i64,
    /// Top five products by units in non-cancelled orders of the last 30 days.
    pub top_products: Vec<TopProduct>,
}

/// The figures of `tenant_id` as of `now`.
pub async fn dashboard(
    db: &DbPool,
    tenant_id: i64,
    plan: &'static str,
    now: DateTime<Utc>,
) -> Result<Dashboard, DbError> {
    let today = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(now);
    let since = now - Duration::days(30);
    let figures = db
        .read(move |c| Box::pin(dashboard::figures(c, tenant_id, today, since)))
        .await?;
    Ok(Dashboard {
        tenant_id,
        plan,
        orders_today: figures.orders_today,
        revenue_today_cents: figures.revenue_today_cents,
        top_products: figures.top_products,
    })
}
