//! The tenant dashboard: three independent aggregates, pipelined on one connection
//! (sent together, answered in order) rather than run one after another.

use crate::db::schema::orders;
use brisk_kit::db::error::DbResult;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

/// One of the five best sellers.
#[derive(Debug, Clone, Serialize, QueryableByName, utoipa::ToSchema)]
pub struct TopProduct {
    /// `products.id`.
    #[diesel(sql_type = BigInt)]
    pub product_id: i64,
    /// The product's name.
    #[diesel(sql_type = Text)]
    pub name: String,
    /// Units in non-cancelled orders since the window opened.
    #[diesel(sql_type = BigInt)]
    pub units_sold: i64,
}

#[derive(QueryableByName)]
struct Revenue {
    #[diesel(sql_type = BigInt)]
    cents: i64,
}

/// The dashboard's three aggregates.
pub struct DashboardFigures {
    /// Orders created since `today_start`.
    pub orders_today: i64,
    /// Total of today's non-cancelled orders.
    pub revenue_today_cents: i64,
    /// Best sellers since `top_since`, most units first.
    pub top_products: Vec<TopProduct>,
}

/// The tenant's figures: today's orders and revenue, and the top products since `top_since`.
pub async fn figures(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    today_start: DateTime<Utc>,
    top_since: DateTime<Utc>,
) -> DbResult<DashboardFigures> {
    let (mut c1, mut c2, mut c3) = (&*conn, &*conn, &*conn);
    let orders_today = orders::table
        .filter(orders::tenant_id.eq(tenant_id))
        .filter(orders::created_at.ge(today_start))
        .count()
        .get_result::<i64>(&mut c1);
    let revenue = diesel::sql_query(
        "SELECT COALESCE(SUM(total_cents), 0)::int8 AS cents FROM orders
          WHERE tenant_id = $1 AND created_at >= $2 AND status <> 'cancelled'",
    )
    .bind::<BigInt, _>(tenant_id)
    .bind::<Timestamptz, _>(today_start)
    .get_result::<Revenue>(&mut c2);
    let top = diesel::sql_query(
        "SELECT oi.product_id, p.name, SUM(oi.quantity)::int8 AS units_sold
           FROM order_items oi
           JOIN orders o ON o.id = oi.order_id
           JOIN products p ON p.id = oi.product_id
          WHERE o.tenant_id = $1 AND o.status <> 'cancelled' AND o.created_at >= $2
          GROUP BY oi.product_id, p.name
          ORDER BY units_sold DESC, oi.product_id
          LIMIT 5",
    )
    .bind::<BigInt, _>(tenant_id)
    .bind::<Timestamptz, _>(top_since)
    .load::<TopProduct>(&mut c3);
    let (orders_today, revenue, top_products) =
        futures_util::try_join!(orders_today, revenue, top)?;
    Ok(DashboardFigures {
        orders_today,
        revenue_today_cents: revenue.cents,
        top_products,
    })
}
