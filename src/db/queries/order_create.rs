//! `POST /api/orders` in one transaction: ownership of the customer and every
//! product, stock locked (`FOR UPDATE`, in id order so concurrent orders cannot
//! deadlock), decremented, items priced at the current price.

use crate::db::error::DbError;
use crate::db::models::{CustomerRef, OrderItemRow, OrderRow, OrderView};
use crate::db::queries::idempotency;
use crate::db::queries::orders::assemble;
use crate::db::schema::{customers, order_items, orders, products};
use crate::domain::orders::OrderFields;
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// One line of a new order (validated at the edge: distinct products, 1..=1000).
#[derive(Debug, Clone, Copy)]
pub struct NewLine {
    /// The product ordered.
    pub product_id: i64,
    /// Units ordered.
    pub quantity: i32,
}

/// Why an order was not created.
#[derive(Debug)]
pub enum CreateOrderError {
    /// The tenant has no customer with this id.
    CustomerNotFound(i64),
    /// The tenant has no product with this id.
    ProductNotFound(i64),
    /// A line asks for more than the stock.
    InsufficientStock {
        /// The product short of stock.
        product_id: i64,
        /// Units the line asked for.
        requested: i32,
        /// Units in stock.
        available: i32,
    },
    /// The database failed.
    Db(DbError),
}

// The transaction needs `From<diesel::result::Error>`; the classification is DbError's.
impl From<Error> for CreateOrderError {
    fn from(e: Error) -> Self {
        CreateOrderError::Db(e.into())
    }
}

impl From<DbError> for CreateOrderError {
    fn from(e: DbError) -> Self {
        CreateOrderError::Db(e)
    }
}

/// Creates the order; nothing is written unless everything succeeds. With an
/// idempotency key, the 201 answer is stored in the same transaction as the
/// order: a claim still open after a crash then proves nothing was committed.
/// Returns the order and its JSON.
pub async fn create(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    customer_id: i64,
    lines: &[NewLine],
    idempotency_key: Option<&str>,
) -> Result<(OrderView, String), CreateOrderError> {
    let mut sorted: Vec<NewLine> = lines.to_vec();
    sorted.sort_by_key(|l| l.product_id);
    conn.transaction::<_, CreateOrderError, _>(async |conn| {
        {
            let customer: CustomerRef = customers::table
                .filter(customers::tenant_id.eq(tenant_id))
                .filter(customers::id.eq(customer_id))
                .select(CustomerRef::as_select())
                .first(conn)
                .await
                .optional()?
                .ok_or(CreateOrderError::CustomerNotFound(customer_id))?;

            let ids: Vec<i64> = sorted.iter().map(|l| l.product_id).collect();
            let locked: Vec<(i64, i64, i32)> = products::table
                .filter(products::tenant_id.eq(tenant_id))
                .filter(products::id.eq_any(&ids))
                .order(products::id)
                .select((products::id, products::price_cents, products::stock))
                .for_update()
                .load(conn)
                .await?;

            let mut priced = Vec::with_capacity(sorted.len());
            for line in &sorted {
                let Some(&(_, price, stock)) = locked.iter().find(|p| p.0 == line.product_id)
                else {
                    return Err(CreateOrderError::ProductNotFound(line.product_id));
                };
                if stock < line.quantity {
                    return Err(CreateOrderError::InsufficientStock {
                        product_id: line.product_id,
                        requested: line.quantity,
                        available: stock,
                    });
                }
                priced.push((line.product_id, line.quantity, price));
            }

            for &(product_id, quantity, _) in &priced {
                diesel::update(products::table.filter(products::id.eq(product_id)))
                    .set((
                        products::stock.eq(products::stock - quantity),
                        products::updated_at.eq(diesel::dsl::now),
                    ))
                    .execute(conn)
                    .await?;
            }

            let total: i64 = priced
                .iter()
                .map(|&(_, q, price)| i64::from(q) * price)
                .sum();
            let order: OrderRow = diesel::insert_into(orders::table)
                .values((
                    orders::tenant_id.eq(tenant_id),
                    orders::customer_id.eq(customer_id),
                    orders::status.eq("pending"),
                    orders::total_cents.eq(total),
                ))
                .returning(OrderRow::as_returning())
                .get_result(conn)
                .await?;

            // Items keep the caller's order of lines.
            let rows: Vec<_> = lines
                .iter()
                .map(|l| {
                    let price = priced
                        .iter()
                        .find(|p| p.0 == l.product_id)
                        .map(|p| p.2)
                        .unwrap_or_default();
                    (
                        order_items::order_id.eq(order.id),
                        order_items::product_id.eq(l.product_id),
                        order_items::quantity.eq(l.quantity),
                        order_items::unit_price_cents.eq(price),
                    )
                })
                .collect();
            let _: Vec<OrderItemRow> = diesel::insert_into(order_items::table)
                .values(&rows)
                .returning(OrderItemRow::as_returning())
                .get_results(conn)
                .await?;

            let mut views = assemble(conn, vec![(order, Some(customer))], OrderFields::ALL).await?;
            let view = views.pop().unwrap_or_default();
            let json =
                serde_json::to_string(&view).map_err(|e| Error::SerializationError(Box::new(e)))?;
            if let Some(key) = idempotency_key {
                idempotency::complete(conn, tenant_id, key, 201, &json).await?;
            }
            Ok((view, json))
        }
    })
    .await
}
