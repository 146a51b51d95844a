//! Rows as the queries load them, and their JSON shapes.

use crate::db::schema::{customers, order_items, orders, products};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Serialize, Serializer};

/// RFC 3339 UTC with microseconds: `2026-03-04T05:06:07.123456Z`.
pub fn serialize_ts<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&ts.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

fn serialize_opt_ts<S: Serializer>(ts: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => serialize_ts(ts, s),
        None => s.serialize_none(),
    }
}

/// A product as the catalog, lists and search show it.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, serde::Deserialize, PartialEq)]
#[diesel(table_name = products, check_for_backend(diesel::pg::Pg))]
pub struct ProductBrief {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub price_cents: i64,
    pub stock: i32,
}

/// A product with its update time (`GET /api/products/{id}`).
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = products, check_for_backend(diesel::pg::Pg))]
pub struct Product {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub price_cents: i64,
    pub stock: i32,
    #[serde(serialize_with = "serialize_ts")]
    pub updated_at: DateTime<Utc>,
}

/// `GET /api/products/{id}/summary`.
#[derive(Debug, Clone, QueryableByName, Serialize, serde::Deserialize, PartialEq)]
pub struct ProductSummary {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub product_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub units_sold: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub revenue_cents: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub order_count: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    #[serde(serialize_with = "serialize_opt_ts")]
    pub last_ordered_at: Option<DateTime<Utc>>,
}

/// An order row, without its relations.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = orders, check_for_backend(diesel::pg::Pg))]
pub struct OrderRow {
    pub id: i64,
    pub customer_id: i64,
    pub status: String,
    pub total_cents: i64,
    pub created_at: DateTime<Utc>,
}

/// An order line, grouped under its order with `belonging_to` + `grouped_by`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Associations)]
#[diesel(belongs_to(OrderRow, foreign_key = order_id))]
#[diesel(table_name = order_items, check_for_backend(diesel::pg::Pg))]
pub struct OrderItemRow {
    pub id: i64,
    pub order_id: i64,
    pub product_id: i64,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

/// The customer reference embedded in an order.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = customers, check_for_backend(diesel::pg::Pg))]
pub struct CustomerRef {
    pub id: i64,
    pub name: String,
}

/// An order line as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct OrderItemView {
    pub product_id: i64,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

impl From<OrderItemRow> for OrderItemView {
    fn from(r: OrderItemRow) -> Self {
        Self {
            product_id: r.product_id,
            quantity: r.quantity,
            unit_price_cents: r.unit_price_cents,
        }
    }
}

/// An order as JSON; fields left out of a sparse fieldset are `None` and not sent.
#[derive(Debug, Clone, Serialize, Default)]
pub struct OrderView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_cents: Option<i64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_ts"
    )]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<OrderItemView>>,
}
