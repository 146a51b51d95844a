//! `GET /api/catalog`'s body, built from per-product JSON fragments kept in process.
//!
//! A product write bumps the tenant's catalog generation, and the next read rebuilds
//! the body. Rebuilding every product (read, decode, serialize 5,000 rows at scale 5)
//! would make one PUT cost the whole catalog; instead a rebuild reads each product's
//! (id, row version) and only the rows whose version this process has not serialized,
//! then joins the fragments. The version is `xmin`, read from the database in the same
//! statement as the values, so a fragment is never trusted by id alone: a write
//! committed by any process shows up as a new version at the next rebuild here.
//! Fragments are kept per tenant, read with a tenant filter, and replaced whole on each
//! rebuild (a product gone from the tenant drops out). The body is byte-identical to
//! serializing [`Catalog`](super::views::Catalog) with `serde_json`.

use super::read_error::ReadError;
use crate::db::models::ProductBrief;
use crate::db::queries::products::{self as queries, ProductVersion, VersionedBrief};
use brisk_kit::db::pool::DbPool;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One product's JSON as the catalog shows it, at one row version.
#[derive(Clone)]
struct Fragment {
    version: i64,
    json: Bytes,
}

/// A tenant's fragments, by product id.
type Fragments = HashMap<i64, Fragment>;

/// The process's catalog fragments of every tenant (cheap to clone, shared by workers).
#[derive(Clone, Default)]
pub struct CatalogFragments {
    tenants: Arc<Mutex<HashMap<i64, Arc<Fragments>>>>,
}

/// What a rebuild read and reused (for tests and the curious).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RebuildStats {
    /// Products in the body.
    pub products: usize,
    /// Products read and serialized anew.
    pub serialized: usize,
}

impl CatalogFragments {
    fn snapshot(&self, tenant_id: i64) -> Option<Arc<Fragments>> {
        let tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        tenants.get(&tenant_id).cloned()
    }

    fn store(&self, tenant_id: i64, fragments: Fragments) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        tenants.insert(tenant_id, Arc::new(fragments));
    }

    /// The tenant's catalog body from the database's current rows, reusing every
    /// fragment whose row version is unchanged.
    pub async fn catalog_json(&self, db: &DbPool, tenant_id: i64) -> Result<Bytes, ReadError> {
        Ok(self.rebuild(db, tenant_id).await?.0)
    }

    /// [`Self::catalog_json`] and what it reused.
    pub async fn rebuild(
        &self,
        db: &DbPool,
        tenant_id: i64,
    ) -> Result<(Bytes, RebuildStats), ReadError> {
        let Some(known) = self.snapshot(tenant_id) else {
            // Nothing to reuse: one statement reads every row with its version.
            let rows = read_rows(db, tenant_id, None).await?;
            let order: Vec<ProductVersion> = rows
                .iter()
                .map(|r| ProductVersion {
                    id: r.brief.id,
                    version: r.version,
                })
                .collect();
            return self.assemble(tenant_id, &order, rows, &Fragments::new());
        };
        let order = db
            .read(move |c| Box::pin(queries::versions(c, tenant_id)))
            .await?;
        let changed: Vec<i64> = order
            .iter()
            .filter(|v| known.get(&v.id).is_none_or(|f| f.version != v.version))
            .map(|v| v.id)
            .collect();
        let rows = if changed.is_empty() {
            Vec::new()
        } else {
            read_rows(db, tenant_id, Some(changed)).await?
        };
        self.assemble(tenant_id, &order, rows, &known)
    }

    /// Joins the fragments in `order`: a row just read wins (its version may be newer
    /// than `order`'s if a write committed in between), else the known fragment of the
    /// same version; an id with neither (deleted in between) is left out.
    fn assemble(
        &self,
        tenant_id: i64,
        order: &[ProductVersion],
        rows: Vec<VersionedBrief>,
        known: &Fragments,
    ) -> Result<(Bytes, RebuildStats), ReadError> {
        let serialized = rows.len();
        let mut next = Fragments::with_capacity(order.len());
        for row in rows {
            let json = fragment(&row.brief)?;
            next.insert(
                row.brief.id,
                Fragment {
                    version: row.version,
                    json,
                },
            );
        }
        let mut products = 0;
        let prefix = format!("{{\"tenant_id\":{tenant_id},\"products\":[");
        let size = known.values().map(|f| f.json.len() + 1).sum::<usize>() + prefix.len() + 2;
        let mut body = Vec::with_capacity(size);
        body.extend_from_slice(prefix.as_bytes());
        for v in order {
            let reused = known.get(&v.id).filter(|f| f.version == v.version);
            let Some(f) = next.get(&v.id).or(reused).cloned() else {
                continue;
            };
            if products > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&f.json);
            next.insert(v.id, f);
            products += 1;
        }
        body.extend_from_slice(b"]}");
        self.store(tenant_id, next);
        Ok((
            Bytes::from(body),
            RebuildStats {
                products,
                serialized,
            },
        ))
    }
}

async fn read_rows(
    db: &DbPool,
    tenant_id: i64,
    ids: Option<Vec<i64>>,
) -> Result<Vec<VersionedBrief>, ReadError> {
    Ok(db
        .read(move |c| {
            let ids = ids.clone();
            Box::pin(async move { queries::versioned_briefs(c, tenant_id, ids.as_deref()).await })
        })
        .await?)
}

fn fragment(brief: &ProductBrief) -> Result<Bytes, ReadError> {
    serde_json::to_vec(brief)
        .map(Bytes::from)
        .map_err(|e| ReadError::Internal(e.to_string()))
}
