//! The cache reads of the cached routes, declared for the kit's guard: it sends each
//! with the limiter's decision, so a cached hit costs one Redis round trip. Each key is
//! built by the same function the route's read uses (`app::reads`), from the same
//! validated input; a request the handler would refuse (a bad `q`, a bad id) declares
//! no read.

use super::path::path_id;
use super::search::search_params;
use crate::app::reads;
use brisk_kit::cache::{Cache, Scope};
use brisk_kit::startup::Mount;

/// `mount` with the reads of `GET /api/catalog`, `GET /api/search` and
/// `GET /api/products/{id}/summary` declared on `cache`.
pub fn declare(mount: Mount, cache: &Cache) -> Mount {
    let (catalog, search, summary) = (cache.clone(), cache.clone(), cache.clone());
    mount
        .prefetch("/api/catalog", move |r| {
            Some(catalog.view_read(reads::catalog_key(r.auth?.tenant_id)))
        })
        .prefetch("/api/search", move |r| {
            let tenant_id = r.auth?.tenant_id;
            let (q, limit) = search_params(r.query).ok()?;
            let query = reads::search_query(&q, limit);
            Some(search.view_read(reads::search_key(tenant_id, &query)))
        })
        .prefetch("/api/products/{id}/summary", move |r| {
            let id = path_id(r.param("id")?, "product").ok()?;
            summary.memo_read(reads::SUMMARY, &id, Scope::Tenant(r.auth?.tenant_id))
        })
}
