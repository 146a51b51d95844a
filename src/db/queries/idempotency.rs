//! Idempotency keys of `POST /api/orders`, per tenant, kept 24 hours.
//!
//! A request first *claims* its key in its own short statement (visible at once to
//! concurrent retries, which then answer 409 "in flight"), then stores the response
//! it produced. A claim left unfinished for a minute (the process died) may be
//! taken over; a failed request (5xx) releases its claim so the client can retry.

use crate::db::error::{DbError, DbResult};
use crate::db::schema::idempotency_keys;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// What the key says about this request.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: process the request, then `complete` it.
    Fresh,
    /// The same key was used with another body.
    Mismatch,
    /// The first request with this key is still being processed.
    InFlight,
    /// The first request finished: replay its response.
    Replay {
        /// The stored HTTP status.
        status: u16,
        /// The stored JSON body.
        body: String,
    },
}

/// Claims `key` for this request (or takes over an expired or abandoned claim),
/// else says what the earlier request with the key left.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    key: &str,
    request_hash: &str,
) -> DbResult<Claim> {
    // Rows inserted or updated: 0 when the key is held and the WHERE refused it.
    let claimed = diesel::sql_query(
        "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, body, created_at)
         VALUES ($1, $2, $3, NULL, NULL, now())
         ON CONFLICT (tenant_id, key) DO UPDATE
            SET request_hash = EXCLUDED.request_hash, status = NULL, body = NULL, created_at = now()
          WHERE idempotency_keys.created_at < now() - interval '24 hours'
             OR (idempotency_keys.status IS NULL
                 AND idempotency_keys.created_at < now() - interval '60 seconds')
",
    )
    .bind::<BigInt, _>(tenant_id)
    .bind::<Text, _>(key)
    .bind::<Text, _>(request_hash)
    .execute(conn)
    .await?;
    if claimed > 0 {
        return Ok(Claim::Fresh);
    }
    let existing: Option<(String, Option<i32>, Option<String>)> = idempotency_keys::table
        .filter(idempotency_keys::tenant_id.eq(tenant_id))
        .filter(idempotency_keys::key.eq(key))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::status,
            idempotency_keys::body,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(match existing {
        // Deleted between our insert and read (a failed first attempt): let the client retry.
        None => Claim::InFlight,
        Some((hash, _, _)) if hash != request_hash => Claim::Mismatch,
        Some((_, Some(status), Some(body))) => Claim::Replay {
            status: status as u16,
            body,
        },
        Some(_) => Claim::InFlight,
    })
}

/// Stores the response of a claimed key.
pub async fn complete(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    key: &str,
    status: u16,
    body: &str,
) -> DbResult<()> {
    diesel::update(
        idempotency_keys::table
            .filter(idempotency_keys::tenant_id.eq(tenant_id))
            .filter(idempotency_keys::key.eq(key)),
    )
    .set((
        idempotency_keys::status.eq(Some(i32::from(status))),
        idempotency_keys::body.eq(Some(body)),
    ))
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(DbError::from)
}

/// Releases a claim whose request failed, so a retry can run.
pub async fn release(conn: &mut AsyncPgConnection, tenant_id: i64, key: &str) -> DbResult<()> {
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::tenant_id.eq(tenant_id))
            .filter(idempotency_keys::key.eq(key))
            .filter(idempotency_keys::status.is_null()),
    )
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(DbError::from)
}
