//! `GET /api/export.csv`: every order of the tenant, streamed from the database in
//! keyset chunks, so memory stays bounded by one chunk whatever the tenant's size.
//! Each chunk takes a pooled connection only while it runs its query.

use crate::db::queries::orders::{export_chunk, ExportRow};
use crate::error::ApiError;
use crate::http::extract::auth::Caller;
use crate::metrics::RequestQueries;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use bytes::{BufMut, Bytes, BytesMut};
use std::fmt::Write;

/// Rows per database round trip.
pub const CHUNK_ROWS: i64 = 2_000;
const HEADER: &str = "id,customer_id,status,total_cents,created_at\n";

struct Cursor {
    after_id: i64,
    done: bool,
}

pub async fn export_csv(state: web::Data<AppState>, Caller(caller): Caller) -> HttpResponse {
    let tenant = caller.tenant_id;
    let queries = RequestQueries::current().unwrap_or_default();
    let header_chunk = futures_util::stream::once(async {
        Ok::<_, ApiError>(Bytes::from_static(HEADER.as_bytes()))
    });
    let rows = futures_util::stream::unfold(
        Cursor {
            after_id: 0,
            done: false,
        },
        move |cur| {
            let state = state.clone();
            let queries = queries.clone();
            async move {
                if cur.done {
                    return None;
                }
                let fetched = queries
                    .scope(async {
                        let mut conn = state.db.get().await?;
                        export_chunk(&mut conn, tenant, cur.after_id, CHUNK_ROWS)
                            .await
                            .map_err(ApiError::from)
                    })
                    .await;
                match fetched {
                    Err(e) => {
                        log::error!(
                            "export of tenant {tenant} failed after id {}: {e}",
                            cur.after_id
                        );
                        Some((
                            Err(e),
                            Cursor {
                                after_id: cur.after_id,
                                done: true,
                            },
                        ))
                    }
                    Ok(rows) if rows.is_empty() => None,
                    Ok(rows) => {
                        let done = (rows.len() as i64) < CHUNK_ROWS;
                        let after_id = rows.last().map(|r| r.id).unwrap_or(cur.after_id);
                        Some((Ok(render(&rows)), Cursor { after_id, done }))
                    }
                }
            }
        },
    );
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"orders.csv\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(futures_util::StreamExt::chain(header_chunk, rows))
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
