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
#[derive(
    Debug,
    Clone,
    Queryable,
    QueryableByName,
    Selectable,
    Serialize,
    serde::Deserialize,
    PartialEq,
    utoipa::ToSchema,
)]
#[diesel(table_name = products, check_for_backend(diesel::pg::Pg))]
pub struct ProductBrief {
    /// `products.id`.
    pub id: i64,
    /// Stock-keeping unit, unique per tenant.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Current unit price.
    pub price_cents: i64,
    /// Units in stock.
    pub stock: i32,
}

/// A product with its update time (`GET /api/products/{id}`).
#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = products, check_for_backend(diesel::pg::Pg))]
pub struct Product {
    /// `products.id`.
    pub id: i64,
    /// Stock-keeping unit, unique per tenant.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Current unit price.
    pub price_cents: i64,
    /// Units in stock.
    pub stock: i32,
    /// Last change of name, price or stock.
    #[serde(serialize_with = "serialize_ts")]
    pub updated_at: DateTime<Utc>,
}

/// `GET /api/products/{id}/summary`.
#[derive(
    Debug, Clone, QueryableByName, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema,
)]
pub struct ProductSummary {
    /// `products.id`.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub product_id: i64,
    /// Units in non-cancelled orders.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub units_sold: i64,
    /// Their value at the prices paid.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub revenue_cents: i64,
    /// Non-cancelled orders holding the product.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub order_count: i64,
    /// The latest of them; `None` if never ordered.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    #[serde(serialize_with = "serialize_opt_ts")]
    pub last_ordered_at: Option<DateTime<Utc>>,
}

/// An order row, without its relations.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = orders, check_for_backend(diesel::pg::Pg))]
pub struct OrderRow {
    /// `orders.id`.
    pub id: i64,
    /// The ordering customer.
    pub customer_id: i64,
    /// `pending`, `paid`, `shipped` or `cancelled`.
    pub status: String,
    /// Sum of the lines.
    pub total_cents: i64,
    /// When the order was placed.
    pub created_at: DateTime<Utc>,
}

/// An order line, grouped under its order with `belonging_to` + `grouped_by`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Associations)]
#[diesel(belongs_to(OrderRow, foreign_key = order_id))]
#[diesel(table_name = order_items, check_for_backend(diesel::pg::Pg))]
pub struct OrderItemRow {
    /// `order_items.id`.
    pub id: i64,
    /// The order the line belongs to.
    pub order_id: i64,
    /// The product ordered.
    pub product_id: i64,
    /// Units ordered.
    pub quantity: i32,
    /// Price paid per unit.
    pub unit_price_cents: i64,
}

/// The customer reference embedded in an order.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = customers, check_for_backend(diesel::pg::Pg))]
pub struct CustomerRef {
    /// `customers.id`.
    pub id: i64,
    /// Full name.
    pub name: String,
}

/// An order line as JSON.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderItemView {
    /// The product ordered.
    pub product_id: i64,
    /// Units ordered.
    pub quantity: i32,
    /// Price paid per unit.
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
#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct OrderView {
    /// `orders.id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// `pending`, `paid`, `shipped` or `cancelled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Sum of the lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_cents: Option<i64>,
    /// When the order was placed.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_ts"
    )]
    pub created_at: Option<DateTime<Utc>>,
    /// Who ordered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerRef>,
    /// The lines, in id order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<OrderItemView>>,
}
