//! The CSV export: every order of the tenant, read from the database in keyset
//! chunks, so memory stays bounded by one chunk whatever the tenant's size. Each
//! chunk takes a pooled connection only while its query runs.

use crate::db::pool::DbPool;
use crate::db::queries::orders::{export_chunk, ExportRow};
use crate::db::DbError;
use crate::metrics::RequestQueries;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::Stream;
use std::fmt::Write;

/// Rows per database round trip.
pub const CHUNK_ROWS: i64 = 2_000;
/// The CSV header line.
pub const HEADER: &str = "id,customer_id,status,total_cents,created_at\n";

struct Cursor {
    after_id: i64,
    done: bool,
}

/// The export of `tenant_id` as CSV chunks, the header first. Statements are
/// charged to `queries`, the request's counter (the stream outlives its task).
pub fn csv(
    db: DbPool,
    tenant_id: i64,
    queries: RequestQueries,
) -> impl Stream<Item = Result<Bytes, DbError>> {
    let header = futures_util::stream::once(async { Ok(Bytes::from_static(HEADER.as_bytes())) });
    let start = Cursor {
        after_id: 0,
        done: false,
    };
    let rows = futures_util::stream::unfold(start, move |cur| {
        let db = db.clone();
        let queries = queries.clone();
        async move {
            if cur.done {
                return None;
            }
            let fetched = queries
                .scope(async {
                    let mut conn = db.get().await?;
                    export_chunk(&mut conn, tenant_id, cur.after_id, CHUNK_ROWS).await
                })
                .await;
            match fetched {
                Err(e) => {
                    log::error!(
                        "export of tenant {tenant_id} failed after id {}: {e}",
                        cur.after_id
                    );
                    let stop = Cursor {
                        after_id: cur.after_id,
                        done: true,
                    };
                    Some((Err(e), stop))
                }
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let done = (rows.len() as i64) < CHUNK_ROWS;
                    let after_id = rows.last().map(|r| r.id).unwrap_or(cur.after_id);
                    Some((Ok(render(&rows)), Cursor { after_id, done }))
                }
            }
        }
    });
    futures_util::StreamExt::chain(header, rows)
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
