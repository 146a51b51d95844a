//! The application's read policy, in one place: which reads are cached under which
//! scope and TTL, what a committed write invalidates, and the recipes the warming
//! scheduler runs to recompute an entry without a request. Handlers call these
//! functions and map the answer to HTTP; they never build a cache key themselves.
//!
//! | read | form | scope | TTL |
//! |---|---|---|---|
//! | `GET /api/catalog` | view, query ignored | tenant | 60 s ± 10 % |
//! | `GET /api/search` | view keyed by the parsed `q` and `limit` | tenant | 60 s ± 10 % |
//! | `GET /api/products/{id}/summary` | memoized per (tenant, product), warmed | tenant | 300 s ± 10 % |
//! | order count (offset pages' `total`) | memoized per (tenant, status) | tenant | 300 s ± 10 % |

use super::catalog::CatalogFragments;
use super::read_error::ReadError;
use super::views;
use crate::db::queries;
use crate::domain::OrderStatus;
use brisk_kit::cache::{Cache, CachedBody, Scope, ViewKey};
use brisk_kit::db::pool::DbPool;
use brisk_kit::metrics::RequestStatements;

use std::future::Future;
use std::time::Duration;

/// The catalog's cache namespace (a generation bumped by product and order writes).
pub const CATALOG_NAMESPACE: &str = "catalog";
/// The catalog's route, part of its cache key.
pub const CATALOG_ROUTE: &str = "/api/catalog";
/// How long a catalog stays fresh.
pub const CATALOG_TTL: Duration = Duration::from_secs(60);
/// The searches' cache namespace.
pub const SEARCH_NAMESPACE: &str = "search";
/// The search route, part of its cache key.
pub const SEARCH_ROUTE: &str = "/api/search";
/// How long a search result stays fresh.
pub const SEARCH_TTL: Duration = Duration::from_secs(60);
/// The memo name of a product's summary.
pub const SUMMARY: &str = "product_summary";
/// How long a summary stays fresh (the warmer refreshes hot ones before that).
pub const SUMMARY_TTL: Duration = Duration::from_secs(300);
/// The memo name of a tenant's order count.
pub const ORDER_COUNT: &str = "order_count";
/// Counts change only through `POST /api/orders`, which deletes them after commit.
pub const ORDER_COUNT_TTL: Duration = Duration::from_secs(300);

/// Charges a computation's statements to the counter of the request that called
/// (`statements`, captured in the caller's task: the cache runs the computation in a
/// spawned task, outside the request's task-local). The miss shows its statements
/// in `Server-Timing`; coalesced callers and hits show none.
async fn charged<F: Future>(statements: Option<RequestStatements>, fut: F) -> F::Output {
    match statements {
        Some(q) => q.scope(fut).await,
        None => fut.await,
    }
}

fn tenant_of(scope: Scope) -> Result<i64, ReadError> {
    match scope {
        Scope::Tenant(id) => Ok(id),
        other => Err(ReadError::Internal(format!(
            "tenant recipe called with {other:?}"
        ))),
    }
}

/// The tenant's catalog's cache key (its read, and the route's declared prefetch).
pub fn catalog_key(tenant_id: i64) -> ViewKey<'static> {
    ViewKey {
        namespace: CATALOG_NAMESPACE,
        route: CATALOG_ROUTE,
        query: "",
        only: Some(&[]),
        scope: Scope::Tenant(tenant_id),
    }
}

/// A search's cache key, by its [`search_query`].
pub fn search_key(tenant_id: i64, query: &str) -> ViewKey<'_> {
    ViewKey {
        namespace: SEARCH_NAMESPACE,
        route: SEARCH_ROUTE,
        query,
        only: None,
        scope: Scope::Tenant(tenant_id),
    }
}

/// The search key's query string, built from the parsed values (so
/// `?q=a&limit=5` ≡ `?limit=5&q=a`, and `limit=500` ≡ `limit=100` after clamping).
pub fn search_query(q: &str, limit: i64) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("limit", &limit.to_string())
        .append_pair("q", q)
        .finish()
}

fn parse_search_query(query: &str) -> Option<(String, i64)> {
    let mut q = None;
    let mut limit = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "q" => q = Some(v.into_owned()),
            "limit" => limit = v.parse().ok(),
            _ => {}
        }
    }
    Some((q?, limit?))
}

/// `GET /api/catalog` body for the tenant (`body` is `None` when `If-None-Match`
/// matched the stored ETag), rebuilt from the process's `fragments` on a miss.
pub async fn catalog(
    cache: &Cache,
    db: &DbPool,
    fragments: &CatalogFragments,
    tenant_id: i64,
    if_none_match: Option<&str>,
) -> Result<CachedBody, ReadError> {
    let db = db.clone();
    let fragments = fragments.clone();
    let statements = RequestStatements::current();
    cache
        .view(
            catalog_key(tenant_id),
            CATALOG_TTL,
            if_none_match,
            move || {
                charged(statements, async move {
                    fragments.catalog_json(&db, tenant_id).await
                })
            },
        )
        .await
}

/// `GET /api/search` body for a validated `q` and a clamped `limit`.
pub async fn search(
    cache: &Cache,
    db: &DbPool,
    tenant_id: i64,
    q: &str,
    limit: i64,
    if_none_match: Option<&str>,
) -> Result<CachedBody, ReadError> {
    let db = db.clone();
    let query = search_query(q, limit);
    let owned_q = q.to_string();
    let statements = RequestStatements::current();
    cache
        .view(
            search_key(tenant_id, &query),
            SEARCH_TTL,
            if_none_match,
            move || {
                charged(statements, async move {
                    views::search_json(&db, tenant_id, &owned_q, limit).await
                })
            },
        )
        .await
}

/// `GET /api/products/{id}/summary` body: memoized per (tenant, product), one
/// aggregate per cluster on a miss, kept warm while it is read.
pub async fn product_summary(
    cache: &Cache,
    db: &DbPool,
    tenant_id: i64,
    product_id: i64,
) -> Result<CachedBody, ReadError> {
    let db = db.clone();
    let statements = RequestStatements::current();
    cache
        .memoize_bytes(
            SUMMARY,
            &product_id,
            Scope::Tenant(tenant_id),
            SUMMARY_TTL,
            move || {
                charged(statements, async move {
                    views::summary_json(&db, tenant_id, product_id).await
                })
            },
        )
        .await
}

/// The argument every order-count memo is keyed by: `None` counts all statuses.
fn count_args(status: Option<OrderStatus>) -> &'static str {
    status.map(OrderStatus::as_str).unwrap_or("all")
}

/// The tenant's order count for the offset pages' `total`: memoized per (tenant,
/// status) and deleted after every committed order, so it stays the true total.
pub async fn order_count(
    cache: &Cache,
    db: &DbPool,
    tenant_id: i64,
    status: Option<OrderStatus>,
) -> Result<i64, ReadError> {
    let db = db.clone();
    let statements = RequestStatements::current();
    let memo = cache
        .memoize(
            ORDER_COUNT,
            count_args(status),
            Scope::Tenant(tenant_id),
            ORDER_COUNT_TTL,
            move || {
                charged(statements, async move {
                    db.read(move |c| Box::pin(queries::orders::count(c, tenant_id, status)))
                        .await
                        .map_err(ReadError::from)
                })
            },
        )
        .await?;
    Ok(memo.value)
}

/// After a committed `PUT /api/products/{id}`: the tenant's catalog and searches
/// show the product; its summary is priced from order items and stands.
pub async fn after_product_updated(cache: &Cache, tenant_id: i64) {
    let scope = Scope::Tenant(tenant_id);
    futures_util::join!(
        cache.bump_namespace(scope, CATALOG_NAMESPACE),
        cache.bump_namespace(scope, SEARCH_NAMESPACE)
    );
}

/// After a committed `POST /api/orders`: stock changed (catalog, searches), and so
/// did the touched products' summaries and the order counts. The invalidations run
/// concurrently, so a slow Redis costs one timeout, not one per key.
pub async fn after_order_created(cache: &Cache, tenant_id: i64, product_ids: &[i64]) {
    let scope = Scope::Tenant(tenant_id);
    let summaries = product_ids
        .iter()
        .map(|id| cache.delete_memo(SUMMARY, id, scope));
    let statuses = std::iter::once(None).chain(OrderStatus::ALL.into_iter().map(Some));
    let counts = statuses.map(|status| cache.delete_memo(ORDER_COUNT, count_args(status), scope));
    futures_util::join!(
        after_product_updated(cache, tenant_id),
        futures_util::future::join_all(summaries),
        futures_util::future::join_all(counts),
    );
}

/// Registers the recipes the warming scheduler recomputes, and the start-up preload
/// of every tenant's catalog (built from the same `fragments` as requests).
pub fn register(cache: &Cache, db: &DbPool, fragments: &CatalogFragments) {
    let pool = db.clone();
    let fragments = fragments.clone();
    cache.register_view(
        CATALOG_NAMESPACE,
        CATALOG_ROUTE,
        CATALOG_TTL,
        move |scope, _query| {
            let db = pool.clone();
            let fragments = fragments.clone();
            async move { fragments.catalog_json(&db, tenant_of(scope)?).await }
        },
    );
    let pool = db.clone();
    cache.preload_view(CATALOG_NAMESPACE, CATALOG_ROUTE, move || {
        let db = pool.clone();
        async move {
            match db.read(|c| Box::pin(queries::auth::tenant_ids(c))).await {
                Ok(ids) => ids
                    .into_iter()
                    .map(|id| (Scope::Tenant(id), String::new()))
                    .collect(),
                Err(e) => {
                    log::warn!("catalog preload skipped: {e}");
                    Vec::new()
                }
            }
        }
    });
    let pool = db.clone();
    cache.register_view(
        SEARCH_NAMESPACE,
        SEARCH_ROUTE,
        SEARCH_TTL,
        move |scope, query| {
            let db = pool.clone();
            async move {
                let (q, limit) = parse_search_query(&query)
                    .ok_or_else(|| ReadError::Internal(format!("bad search key {query:?}")))?;
                views::search_json(&db, tenant_of(scope)?, &q, limit).await
            }
        },
    );
    let pool = db.clone();
    cache.register_memo_bytes(SUMMARY, SUMMARY_TTL, move |scope, product_id: i64| {
        let db = pool.clone();
        async move { views::summary_json(&db, tenant_of(scope)?, product_id).await }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use brisk_kit::cache::keys::normalize_query;

    #[test]
    fn search_keys_round_trip_and_ignore_parameter_order() {
        let query = search_query("red chair&x=1", 5);
        assert_eq!(
            parse_search_query(&normalize_query(&query, None)),
            Some(("red chair&x=1".to_string(), 5))
        );
        assert_eq!(
            normalize_query(&search_query("a", 5), None),
            normalize_query("q=a&limit=5", None)
        );
    }
}
