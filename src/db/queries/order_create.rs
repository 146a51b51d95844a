//! `POST /api/orders` in one transaction: ownership of the customer and every
//! product, stock locked (`FOR UPDATE`, in id order so concurrent orders cannot
//! deadlock), the domain's pricing rules applied to the locked rows, stock
//! decremented, the order and its items inserted. The rules themselves live in
//! `domain::ordering`; this module only reads and writes.

use crate::db::models::{CustomerRef, OrderItemRow, OrderRow, OrderView};
use crate::db::queries::idempotency::{self, OwnedClaim};
use crate::db::queries::orders::assemble;
use crate::db::schema::{customers, order_items, orders, products};
use crate::domain::ordering::{price, LockedProduct, NewLine, OrderRejection, PricedLine};
use crate::domain::orders::OrderFields;
use brisk_kit::db::error::DbError;
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::sync::atomic::{AtomicBool, Ordering};

/// Why an order was not created (nothing was written).
#[derive(Debug)]
pub enum CreateError {
    /// A rule refused the order as asked.
    Rejected(OrderRejection),
    /// The database failed.
    Db(DbError),
    /// The request's idempotency claim was taken over by a retry (this request was
    /// too slow to begin): nothing was written, the retry answers for the key.
    ClaimLost,
    /// The connection was lost while the transaction committed: the order may or
    /// may not exist (never retried blindly).
    CommitUnknown(DbError),
}

// The transaction needs `From<diesel::result::Error>`; the classification is DbError's.
impl From<Error> for CreateError {
    fn from(e: Error) -> Self {
        CreateError::Db(e.into())
    }
}

impl From<DbError> for CreateError {
    fn from(e: DbError) -> Self {
        CreateError::Db(e)
    }
}

impl From<OrderRejection> for CreateError {
    fn from(r: OrderRejection) -> Self {
        CreateError::Rejected(r)
    }
}

/// How the created order is rendered for the idempotency record (the caller's
/// JSON, stored in the order's own transaction).
pub type RenderOrder = dyn Fn(&OrderView) -> String + Send + Sync;

/// Creates the order; nothing is written unless everything succeeds. With an
/// idempotency claim, the transaction first locks the claim (only while this request
/// owns it) and stores the 201 answer (`render` of the order) before committing: a
/// claim still open after a crash then proves nothing was committed, and a claim
/// taken over by a retry rolls this transaction back ([`CreateError::ClaimLost`]).
/// Returns the rendered order.
pub async fn create(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    customer_id: i64,
    lines: &[NewLine],
    claim: Option<OwnedClaim<'_>>,
    render: &RenderOrder,
) -> Result<String, CreateError> {
    // Set once the body is done: a connection lost after it was lost in the COMMIT.
    let committing = AtomicBool::new(false);
    let result = conn
        .transaction::<_, CreateError, _>(async |conn| {
            if let Some(claim) = claim {
                if !idempotency::lock_claim(conn, tenant_id, claim).await? {
                    return Err(CreateError::ClaimLost);
                }
            }
            let customer = find_customer(conn, tenant_id, customer_id).await?;
            let locked = lock_products(conn, tenant_id, lines).await?;
            let (priced, total) = price(lines, &locked)?;
            decrement_stock(conn, &priced).await?;
            let order = insert_order(conn, tenant_id, customer_id, total, &priced).await?;
            let mut views = assemble(conn, vec![(order, Some(customer))], OrderFields::ALL).await?;
            let json = render(&views.pop().unwrap_or_default());
            if let Some(claim) = claim {
                if !idempotency::complete(conn, tenant_id, claim, 201, &json).await? {
                    return Err(CreateError::ClaimLost);
                }
            }
            committing.store(true, Ordering::Relaxed);
            Ok(json)
        })
        .await;
    match result {
        Err(CreateError::Db(e @ DbError::ConnectionLost(_)))
            if AtomicBool::load(&committing, Ordering::Relaxed) =>
        {
            Err(CreateError::CommitUnknown(e))
        }
        other => other,
    }
}

async fn find_customer(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    customer_id: i64,
) -> Result<CustomerRef, CreateError> {
    customers::table
        .filter(customers::tenant_id.eq(tenant_id))
        .filter(customers::id.eq(customer_id))
        .select(CustomerRef::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(CreateError::Rejected(OrderRejection::CustomerNotFound(
            customer_id,
        )))
}

/// The tenant's products named by `lines`, locked in id order.
async fn lock_products(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    lines: &[NewLine],
) -> Result<Vec<LockedProduct>, Error> {
    let mut ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
    ids.sort_unstable();
    let rows: Vec<(i64, i64, i32)> = products::table
        .filter(products::tenant_id.eq(tenant_id))
        .filter(products::id.eq_any(&ids))
        .order(products::id)
        .select((products::id, products::price_cents, products::stock))
        .for_update()
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, price_cents, stock)| LockedProduct {
            id,
            price_cents,
            stock,
        })
        .collect())
}

async fn decrement_stock(conn: &mut AsyncPgConnection, priced: &[PricedLine]) -> Result<(), Error> {
    let mut by_id: Vec<&PricedLine> = priced.iter().collect();
    by_id.sort_by_key(|l| l.product_id);
    for line in by_id {
        diesel::update(products::table.filter(products::id.eq(line.product_id)))
            .set((
                products::stock.eq(products::stock - line.quantity),
                products::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Inserts the order and its items (in the caller's order of lines).
async fn insert_order(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    customer_id: i64,
    total: i64,
    priced: &[PricedLine],
) -> Result<OrderRow, Error> {
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
    let rows: Vec<_> = priced
        .iter()
        .map(|l| {
            (
                order_items::order_id.eq(order.id),
                order_items::product_id.eq(l.product_id),
                order_items::quantity.eq(l.quantity),
                order_items::unit_price_cents.eq(l.unit_price_cents),
            )
        })
        .collect();
    let _: Vec<OrderItemRow> = diesel::insert_into(order_items::table)
        .values(&rows)
        .returning(OrderItemRow::as_returning())
        .get_results(conn)
        .await?;
    Ok(order)
}
