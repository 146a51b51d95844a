//! Product reads and writes, always filtered by the caller's tenant.

use crate::db::models::{Product, ProductBrief, ProductSummary};
use crate::db::schema::products;
use brisk_kit::db::error::{DbError, DbResult};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Every product of the tenant, ordered by id (the catalog).
pub async fn all(conn: &mut AsyncPgConnection, tenant_id: i64) -> DbResult<Vec<ProductBrief>> {
    products::table
        .filter(products::tenant_id.eq(tenant_id))
        .order(products::id)
        .select(ProductBrief::as_select())
        .load(conn)
        .await
        .map_err(DbError::from)
}

/// A product row's version: `xmin`, the id of the transaction that wrote the row as it
/// stands, which every `UPDATE` changes (each commit writes a new row version). Unlike
/// `updated_at` (`now()`, the transaction's start) two writes cannot share it.
const ROW_VERSION: &str = "xmin::text::int8";

/// Every product's id and row version ([`ROW_VERSION`]) of a tenant, by id, as two
/// arrays of one row (5,000 rows decoded one by one cost more than the values).
#[derive(Debug, Clone, Default, PartialEq, Eq, QueryableByName)]
pub struct ProductVersions {
    /// `products.id`, ascending (`None`: the tenant has no product).
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<BigInt>>)]
    pub ids: Option<Vec<i64>>,
    /// The row version of each, in the same order.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<BigInt>>)]
    pub versions: Option<Vec<i64>>,
}

/// A catalog row with its row version, read in the same statement.
#[derive(Debug, Clone, QueryableByName)]
pub struct VersionedBrief {
    /// The row version of these values.
    #[diesel(sql_type = BigInt)]
    pub version: i64,
    /// The product as the catalog shows it.
    #[diesel(embed)]
    pub brief: ProductBrief,
}

/// (id, row version) of every product of the tenant, by id: what a catalog rebuild
/// reads to know which products changed.
pub async fn versions(conn: &mut AsyncPgConnection, tenant_id: i64) -> DbResult<ProductVersions> {
    diesel::sql_query(format!(
        "SELECT array_agg(id ORDER BY id) AS ids, array_agg({ROW_VERSION} ORDER BY id) AS versions \
         FROM products WHERE tenant_id = $1"
    ))
    .bind::<BigInt, _>(tenant_id)
    .get_result(conn)
    .await
    .map_err(DbError::from)
}

/// The catalog rows of the tenant with their row versions, by id: every product when
/// `ids` is `None`, else those of `ids` (a product of another tenant is never read).
pub async fn versioned_briefs(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    ids: Option<&[i64]>,
) -> DbResult<Vec<VersionedBrief>> {
    let columns = format!("id, sku, name, price_cents, stock, {ROW_VERSION} AS version");
    let query = match ids {
        None => diesel::sql_query(format!(
            "SELECT {columns} FROM products WHERE tenant_id = $1 ORDER BY id"
        ))
        .into_boxed()
        .bind::<BigInt, _>(tenant_id),
        Some(ids) => diesel::sql_query(format!(
            "SELECT {columns} FROM products WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id"
        ))
        .into_boxed()
        .bind::<BigInt, _>(tenant_id)
        .bind::<diesel::sql_types::Array<BigInt>, _>(ids.to_vec()),
    };
    query.load(conn).await.map_err(DbError::from)
}

/// One offset page and the tenant's product count, pipelined on one connection.
pub async fn page(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    page: i64,
    per_page: i64,
) -> DbResult<(Vec<ProductBrief>, i64)> {
    let mut c = &*conn;
    let mut c2 = &*conn;
    let rows = products::table
        .filter(products::tenant_id.eq(tenant_id))
        .order(products::id)
        .limit(per_page)
        .offset((page - 1).saturating_mul(per_page))
        .select(ProductBrief::as_select())
        .load(&mut c);
    let total = products::table
        .filter(products::tenant_id.eq(tenant_id))
        .count()
        .get_result(&mut c2);
    Ok(futures_util::try_join!(rows, total)?)
}

/// One product of the tenant; `None` if the tenant has no such product.
pub async fn find(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    product_id: i64,
) -> DbResult<Option<Product>> {
    products::table
        .filter(products::tenant_id.eq(tenant_id))
        .filter(products::id.eq(product_id))
        .select(Product::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(DbError::from)
}

/// Escapes `\`, `%` and `_` so they match literally under ILIKE.
pub fn like_pattern(q: &str) -> String {
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for ch in q.chars() {
        if matches!(ch, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

/// Products whose name or sku contains `q` (case-insensitive), ordered by id.
pub async fn search(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    q: &str,
    limit: i64,
) -> DbResult<Vec<ProductBrief>> {
    let pattern = like_pattern(q);
    products::table
        .filter(products::tenant_id.eq(tenant_id))
        .filter(
            products::name
                .ilike(pattern.clone())
                .or(products::sku.ilike(pattern)),
        )
        .order(products::id)
        .limit(limit)
        .select(ProductBrief::as_select())
        .load(conn)
        .await
        .map_err(DbError::from)
}

/// The changes of a PUT; at least one is set (checked at the edge).
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = products)]
pub struct ProductChanges {
    /// New name.
    pub name: Option<String>,
    /// New price.
    pub price_cents: Option<i64>,
    /// New stock.
    pub stock: Option<i32>,
}

/// Applies `changes`; `None` when the tenant has no such product.
pub async fn update(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    product_id: i64,
    changes: &ProductChanges,
) -> DbResult<Option<Product>> {
    diesel::update(
        products::table
            .filter(products::tenant_id.eq(tenant_id))
            .filter(products::id.eq(product_id)),
    )
    .set((changes, products::updated_at.eq(diesel::dsl::now)))
    .returning(Product::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(DbError::from)
}

/// The expensive aggregate: sales of one product over non-cancelled orders.
/// `None` when the tenant has no such product.
pub async fn summary(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    product_id: i64,
) -> DbResult<Option<ProductSummary>> {
    diesel::sql_query(
        "SELECT p.id AS product_id,
                COALESCE(SUM(oi.quantity), 0)::int8 AS units_sold,
                COALESCE(SUM(oi.quantity::int8 * oi.unit_price_cents), 0)::int8 AS revenue_cents,
                COUNT(DISTINCT o.id)::int8 AS order_count,
                MAX(o.created_at) AS last_ordered_at
           FROM products p
           LEFT JOIN (order_items oi
                      JOIN orders o ON o.id = oi.order_id
                                   AND o.status <> 'cancelled'
                                   AND o.tenant_id = $2)
                  ON oi.product_id = p.id
          WHERE p.id = $1 AND p.tenant_id = $2
          GROUP BY p.id",
    )
    .bind::<BigInt, _>(product_id)
    .bind::<BigInt, _>(tenant_id)
    .get_result(conn)
    .await
    .optional()
    .map_err(DbError::from)
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_wildcards_in_queries_match_literally() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
        assert_eq!(like_pattern("amber"), "%amber%");
    }
}
