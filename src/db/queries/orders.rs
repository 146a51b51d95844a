//! Order reads: lists (offset and keyset) with eager loading, one order, and the
//! CSV export's chunks. A list costs at most three statements whatever its size:
//! the page (joined with customers when asked), the count (offset form, memoized),
//! and the items of every order on the page (`belonging_to` + `grouped_by`).

use crate::db::models::{CustomerRef, OrderItemRow, OrderRow, OrderView};
use crate::db::schema::{customers, order_items, orders};
use crate::domain::orders::{OrderFields, OrderPage, OrderPosition, OrderQuery};
use brisk_kit::db::error::{DbError, DbResult};
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// One page of orders.
pub struct OrderList {
    /// The page's orders, newest first.
    pub items: Vec<OrderView>,
    /// The position after the last order of the page, if the page is full.
    pub next: Option<OrderPosition>,
}

type Row = (OrderRow, Option<CustomerRef>);

// Applies the tenant, status and keyset filters to a boxed query over `orders`
// (joined or not), so both shapes share one definition of the page.
macro_rules! page_filters {
    ($q:expr, $tenant:expr, $query:expr) => {{
        let mut q = $q.filter(orders::tenant_id.eq($tenant));
        if let Some(status) = $query.status {
            q = q.filter(orders::status.eq(status.as_str()));
        }
        match $query.page {
            // The offset is walked over ids only (an index-only scan of the
            // (tenant_id, created_at desc, id desc) index); rows and customers are
            // then read for the page's orders alone, not for every skipped one.
            OrderPage::Offset { page, per_page } => q
                .filter(orders::id.eq_any(offset_page_ids($tenant, $query.status, page, per_page)))
                .order((orders::created_at.desc(), orders::id.desc())),
            OrderPage::Keyset { after, limit } => {
                if let Some(pos) = after {
                    q = q.filter(keyset_before(pos));
                }
                q.order((orders::created_at.desc(), orders::id.desc()))
                    .limit(limit)
            }
        }
    }};
}

/// The ids of one offset page, as a subquery.
fn offset_page_ids(
    tenant_id: i64,
    status: Option<crate::domain::types::OrderStatus>,
    page: i64,
    per_page: i64,
) -> orders::BoxedQuery<'static, diesel::pg::Pg, BigInt> {
    let mut ids = orders::table
        .select(orders::id)
        .filter(orders::tenant_id.eq(tenant_id))
        .into_boxed();
    if let Some(status) = status {
        ids = ids.filter(orders::status.eq(status.as_str()));
    }
    ids.order((orders::created_at.desc(), orders::id.desc()))
        .limit(per_page)
        .offset((page - 1).saturating_mul(per_page))
}

/// `(created_at, id) < (pos)`: a row comparison the (tenant_id, created_at desc, id desc)
/// index answers directly.
fn keyset_before(
    pos: OrderPosition,
) -> diesel::expression::SqlLiteral<
    Bool,
    impl diesel::query_builder::QueryFragment<diesel::pg::Pg> + Send,
> {
    sql::<Bool>("(orders.created_at, orders.id) < (")
        .bind::<Timestamptz, _>(pos.created_at)
        .sql(", ")
        .bind::<BigInt, _>(pos.id)
        .sql(")")
}

async fn load_page(
    mut conn: &AsyncPgConnection,
    tenant_id: i64,
    query: &OrderQuery,
) -> DbResult<Vec<Row>> {
    if query.fields.customer {
        let q = orders::table.inner_join(customers::table).into_boxed();
        let q = page_filters!(q, tenant_id, query);
        let rows: Vec<(OrderRow, CustomerRef)> = q
            .select((OrderRow::as_select(), CustomerRef::as_select()))
            .load(&mut conn)
            .await?;
        Ok(rows.into_iter().map(|(o, c)| (o, Some(c))).collect())
    } else {
        let q = orders::table.into_boxed();
        let q = page_filters!(q, tenant_id, query);
        let rows: Vec<OrderRow> = q.select(OrderRow::as_select()).load(&mut conn).await?;
        Ok(rows.into_iter().map(|o| (o, None)).collect())
    }
}

/// The tenant's order count (with the status filter): the offset form's `total`.
/// Memoized by the cache (`warm::recipes::order_count`): counting 50k rows is the
/// most expensive statement of a page.
pub async fn count(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    status: Option<crate::domain::types::OrderStatus>,
) -> DbResult<i64> {
    let mut q = orders::table
        .filter(orders::tenant_id.eq(tenant_id))
        .into_boxed();
    if let Some(status) = status {
        q = q.filter(orders::status.eq(status.as_str()));
    }
    q.count().get_result(conn).await.map_err(DbError::from)
}

/// Lists one page of the tenant's orders (the offset form's total comes from [`count`]).
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    query: &OrderQuery,
) -> DbResult<OrderList> {
    let rows = load_page(&*conn, tenant_id, query).await?;
    let page_size = match query.page {
        OrderPage::Offset { per_page, .. } => per_page,
        OrderPage::Keyset { limit, .. } => limit,
    };
    let next = if rows.len() as i64 == page_size {
        rows.last().map(|(o, _)| OrderPosition {
            created_at: o.created_at,
            id: o.id,
        })
    } else {
        None
    };
    let items = assemble(conn, rows, query.fields).await?;
    Ok(OrderList { items, next })
}

/// One order of the tenant, with its customer and items; `None` if the tenant has no such order.
pub async fn find(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    order_id: i64,
) -> DbResult<Option<OrderView>> {
    let row: Option<(OrderRow, CustomerRef)> = orders::table
        .inner_join(customers::table)
        .filter(orders::tenant_id.eq(tenant_id))
        .filter(orders::id.eq(order_id))
        .select((OrderRow::as_select(), CustomerRef::as_select()))
        .first(conn)
        .await
        .optional()?;
    let Some((order, customer)) = row else {
        return Ok(None);
    };
    let mut views = assemble(conn, vec![(order, Some(customer))], OrderFields::ALL).await?;
    Ok(views.pop())
}

/// Loads the items of all `rows` in one statement (when asked) and builds the views.
pub async fn assemble(
    conn: &mut AsyncPgConnection,
    rows: Vec<Row>,
    fields: OrderFields,
) -> DbResult<Vec<OrderView>> {
    let mut grouped: Vec<Option<Vec<OrderItemRow>>> = vec![None; rows.len()];
    if fields.items && !rows.is_empty() {
        let parents: Vec<&OrderRow> = rows.iter().map(|(o, _)| o).collect();
        let items: Vec<OrderItemRow> = OrderItemRow::belonging_to(&parents)
            .select(OrderItemRow::as_select())
            .order(order_items::id)
            .load(conn)
            .await?;
        grouped = items.grouped_by(&parents).into_iter().map(Some).collect();
    }
    Ok(rows
        .into_iter()
        .zip(grouped)
        .map(|((o, customer), items)| OrderView {
            id: fields.id.then_some(o.id),
            status: fields.status.then_some(o.status),
            total_cents: fields.total_cents.then_some(o.total_cents),
            created_at: fields.created_at.then_some(o.created_at),
            customer: if fields.customer { customer } else { None },
            items: items.map(|v| v.into_iter().map(Into::into).collect()),
        })
        .collect())
}

/// One CSV export chunk: orders with id > `after_id`, ascending.
#[derive(Debug, Clone, Queryable)]
pub struct ExportRow {
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

/// Up to `limit` of the tenant's orders with id > `after_id`, ascending.
pub async fn export_chunk(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    after_id: i64,
    limit: i64,
) -> DbResult<Vec<ExportRow>> {
    orders::table
        .filter(orders::tenant_id.eq(tenant_id))
        .filter(orders::id.gt(after_id))
        .order(orders::id)
        .limit(limit)
        .select((
            orders::id,
            orders::customer_id,
            orders::status,
            orders::total_cents,
            orders::created_at,
        ))
        .load(conn)
        .await
        .map_err(DbError::from)
}
