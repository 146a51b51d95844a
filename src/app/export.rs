//! The CSV export: every order of the tenant, read from the database in keyset
//! chunks, so memory stays bounded by one chunk whatever the tenant's size. Each
//! chunk takes a pooled connection only while its query runs.
//!
//! An export is refused before anything is sent rather than cut short after a
//! `200`: [`Exports::start`] takes one of the process's export slots (at most
//! `--max-concurrent-exports` run at once; none free → [`ExportError::Busy`], a 429)
//! and reads the first chunk (no pooled connection in time → [`ExportError::Db`], a
//! 503) before the handler answers. A later chunk that fails still ends the body
//! early (logged): the status line is already sent by then.

use crate::db::queries::orders::{export_chunk, ExportRow};
use brisk_kit::db::pool::DbPool;
use brisk_kit::db::DbError;
use brisk_kit::metrics::RequestStatements;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::Stream;
use std::fmt::Write;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Rows per database round trip.
pub const CHUNK_ROWS: i64 = 2_000;
/// The CSV header line.
pub const HEADER: &str = "id,customer_id,status,total_cents,created_at\n";
/// Exports running at once in one process unless configured (API.md "Exports").
pub const DEFAULT_MAX_CONCURRENT: usize = 4;
/// `Retry-After` of an export refused because every slot is taken.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// Why an export did not start.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Every export slot of this process is taken.
    #[error("{running} exports are already running")]
    Busy {
        /// The slots, all taken.
        running: usize,
    },
    /// The first chunk could not be read (pool saturated, database away).
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The process's exports: the pool and the slots (cheap to clone).
#[derive(Clone)]
pub struct Exports {
    db: DbPool,
    slots: Arc<Semaphore>,
    max: usize,
}

struct Cursor {
    after_id: i64,
    done: bool,
    /// The header and the first chunk, read before the answer.
    first: Option<Bytes>,
    /// Held until the body ends or the client goes away.
    _slot: OwnedSemaphorePermit,
}

impl Exports {
    /// At most `max_concurrent` exports at once (at least 1).
    pub fn new(db: DbPool, max_concurrent: usize) -> Self {
        let max = max_concurrent.max(1);
        Self {
            db,
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Starts the export of `tenant_id`: a slot and the first chunk, then the whole
    /// file as CSV chunks, the header first. Statements are charged to the request's
    /// counter, `statements` (the stream outlives its task).
    pub async fn start(
        &self,
        tenant_id: i64,
        statements: RequestStatements,
    ) -> Result<impl Stream<Item = Result<Bytes, DbError>>, ExportError> {
        let slot = Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| ExportError::Busy { running: self.max })?;
        let rows = statements
            .clone()
            .scope(chunk(&self.db, tenant_id, 0))
            .await?;
        let mut first = BytesMut::from(HEADER.as_bytes());
        first.extend_from_slice(&render(&rows));
        let start = Cursor {
            after_id: rows.last().map_or(0, |r| r.id),
            done: (rows.len() as i64) < CHUNK_ROWS,
            first: Some(first.freeze()),
            _slot: slot,
        };
        let db = self.db.clone();
        Ok(futures_util::stream::unfold(start, move |cur| {
            next(db.clone(), tenant_id, statements.clone(), cur)
        }))
    }
}

/// One chunk of the tenant's orders after `after_id` (a dead pooled connection is
/// retried on a fresh one: the read is idempotent).
async fn chunk(db: &DbPool, tenant_id: i64, after_id: i64) -> Result<Vec<ExportRow>, DbError> {
    db.read(move |c| Box::pin(export_chunk(c, tenant_id, after_id, CHUNK_ROWS)))
        .await
}

/// The stream's step: the first chunk, then one chunk per call until the last.
async fn next(
    db: DbPool,
    tenant_id: i64,
    statements: RequestStatements,
    mut cur: Cursor,
) -> Option<(Result<Bytes, DbError>, Cursor)> {
    if let Some(first) = cur.first.take() {
        return Some((Ok(first), cur));
    }
    if cur.done {
        return None;
    }
    match statements.scope(chunk(&db, tenant_id, cur.after_id)).await {
        Err(e) => {
            log::error!(
                "export of tenant {tenant_id} failed after id {}: {e}",
                cur.after_id
            );
            cur.done = true;
            Some((Err(e), cur))
        }
        Ok(rows) if rows.is_empty() => None,
        Ok(rows) => {
            cur.done = (rows.len() as i64) < CHUNK_ROWS;
            cur.after_id = rows.last().map_or(cur.after_id, |r| r.id);
            Some((Ok(render(&rows)), cur))
        }
    }
}

fn render(rows: &[ExportRow]) -> Bytes {
    let mut buf = BytesMut::with_capacity(rows.len() * 64);
    let mut line = String::with_capacity(96);
    for r in rows {
        line.clear();
        let _ = writeln!(
            line,
            "{},{},{},{},{}",
            r.id,
            r.customer_id,
            r.status,
            r.total_cents,
            r.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ")
        );
        buf.put_slice(line.as_bytes());
    }
    buf.freeze()
}
