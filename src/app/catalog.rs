//! `GET /api/catalog`'s body, built from per-product JSON fragments kept in process.
//!
//! A product write bumps the tenant's catalog generation, and the next read rebuilds
//! the body. Rebuilding every product (read, decode, serialize 5,000 rows at scale 5)
//! would make one PUT cost the whole catalog; instead a rebuild reads each product's
//! (id, row version) and only the rows whose version this process has not serialized,
//! then copies every unchanged fragment's bytes from the body it built last (no
//! per-product allocation, hashing or reference counting: a rebuild is two statements,
//! one memcpy-like pass over the old body and the changed rows' serialization). The version is `xmin`, read from the database in the same
//! statement as the values, so a fragment is never trusted by id alone: a write
//! committed by any process shows up as a new version at the next rebuild here.
//! Fragments are kept per tenant, read with a tenant filter, and replaced whole on each
//! rebuild (a product gone from the tenant drops out). The body is byte-identical to
//! serializing [`Catalog`](super::views::Catalog) with `serde_json`.

use super::read_error::ReadError;
use crate::db::models::ProductBrief;
use crate::db::queries::products::{self as queries, VersionedBrief};
use brisk_kit::db::pool::DbPool;
use bytes::Bytes;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// Where one product's JSON sits in a built body, and the row version it shows.
#[derive(Clone, Copy)]
struct Entry {
    id: i64,
    version: i64,
    start: usize,
    end: usize,
}

/// A tenant's last built body and its products' fragments in it, by ascending id.
struct Built {
    body: Bytes,
    entries: Vec<Entry>,
}

/// The process's last built catalog of every tenant (cheap to clone, shared by workers).
#[derive(Clone, Default)]
pub struct CatalogFragments {
    tenants: Arc<Mutex<HashMap<i64, Arc<Built>>>>,
}

/// What a rebuild read and reused (for tests and the curious).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RebuildStats {
    /// Products in the body.
    pub products: usize,
    /// Products read and serialized anew.
    pub serialized: usize,
}

/// The body being written: the prefix, then fragments separated by commas.
struct Writer {
    body: Vec<u8>,
    entries: Vec<Entry>,
}

impl Writer {
    fn new(tenant_id: i64, capacity: usize, products: usize) -> Self {
        let mut body = Vec::with_capacity(capacity + 48);
        body.extend_from_slice(format!("{{\"tenant_id\":{tenant_id},\"products\":[").as_bytes());
        Self {
            body,
            entries: Vec::with_capacity(products),
        }
    }

    fn push(&mut self, id: i64, version: i64, json: &[u8]) {
        if !self.entries.is_empty() {
            self.body.push(b',');
        }
        let start = self.body.len();
        self.body.extend_from_slice(json);
        let end = self.body.len();
        self.entries.push(Entry {
            id,
            version,
            start,
            end,
        });
    }

    fn finish(mut self) -> Built {
        self.body.extend_from_slice(b"]}");
        Built {
            body: Bytes::from(self.body),
            entries: self.entries,
        }
    }
}

impl CatalogFragments {
    fn snapshot(&self, tenant_id: i64) -> Option<Arc<Built>> {
        let tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        tenants.get(&tenant_id).cloned()
    }

    fn store(&self, tenant_id: i64, built: Built) -> (Bytes, usize) {
        let out = (built.body.clone(), built.entries.len());
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        tenants.insert(tenant_id, Arc::new(built));
        out
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
            let mut out = Writer::new(tenant_id, rows.len() * 96, rows.len());
            for row in &rows {
                out.push(row.brief.id, row.version, &fragment(&row.brief)?);
            }
            let (body, products) = self.store(tenant_id, out.finish());
            let stats = RebuildStats {
                products,
                serialized: rows.len(),
            };
            return Ok((body, stats));
        };
        let found = db
            .read(move |c| Box::pin(queries::versions(c, tenant_id)))
            .await?;
        let ids = found.ids.unwrap_or_default();
        let versions = found.versions.unwrap_or_default();
        let reused = reusable(&known.entries, &ids, &versions);
        let changed: Vec<i64> = ids
            .iter()
            .zip(&reused)
            .filter(|(_, r)| r.is_none())
            .map(|(id, _)| *id)
            .collect();
        let mut fresh = HashMap::with_capacity(changed.len());
        if !changed.is_empty() {
            for row in read_rows(db, tenant_id, Some(changed)).await? {
                fresh.insert(row.brief.id, (row.version, fragment(&row.brief)?));
            }
        }
        let mut out = Writer::new(tenant_id, known.body.len(), ids.len());
        for ((id, version), range) in ids.iter().zip(&versions).zip(reused) {
            // A row just read wins (a write may have committed since the versions were
            // read); an id with neither (deleted in between) is left out.
            if let Some((v, json)) = fresh.get(id) {
                out.push(*id, *v, json);
            } else if let Some(range) = range {
                out.push(*id, *version, &known.body[range]);
            }
        }
        let serialized = fresh.len();
        let (body, products) = self.store(tenant_id, out.finish());
        Ok((
            body,
            RebuildStats {
                products,
                serialized,
            },
        ))
    }
}

/// For each (id, version), the byte range of the known fragment of that very version,
/// if any: one merge pass over two id-ordered lists.
fn reusable(known: &[Entry], ids: &[i64], versions: &[i64]) -> Vec<Option<Range<usize>>> {
    let mut j = 0;
    ids.iter()
        .zip(versions)
        .map(|(id, version)| {
            while j < known.len() && known[j].id < *id {
                j += 1;
            }
            let e = known
                .get(j)
                .filter(|e| e.id == *id && e.version == *version)?;
            Some(e.start..e.end)
        })
        .collect()
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

fn fragment(brief: &ProductBrief) -> Result<Vec<u8>, ReadError> {
    serde_json::to_vec(brief).map_err(|e| ReadError::Internal(e.to_string()))
}
