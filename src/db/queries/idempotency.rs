//! Idempotency keys of `POST /api/orders`, per tenant, kept 24 hours.
//!
//! A request first *claims* its key in its own short statement (visible at once to
//! concurrent retries, which then answer 409 "in flight"), naming itself the claim's
//! *owner* (a random token per request). Only the owner completes or releases it:
//!
//! - The order's transaction starts by locking the claim row ([`lock_claim`], `FOR
//!   UPDATE`, only if the request still owns it) and stores its answer with
//!   [`complete`] (again only as owner) before it commits; if either finds the claim
//!   gone, the transaction rolls back and nothing is written.
//! - A takeover ([`claim`] of an unfinished claim) skips a locked row (`SKIP LOCKED`):
//!   while the owner's transaction holds the lock, the claim cannot be taken, so a
//!   takeover only ever happens when the owner's transaction is over (rolled back,
//!   or never begun). An owner that has not begun yet when its claim is taken finds
//!   the claim gone at [`lock_claim`] and writes nothing: no duplicate order, whatever
//!   the timing.
//! - An unlocked, unfinished claim older than [`CLAIM_GRACE`] is abandoned (its
//!   request failed and its release did not reach the database, or its process died)
//!   and may be taken over: a retry waits at most that long, not a minute.

use crate::db::schema::idempotency_keys;
use brisk_kit::db::error::{DbError, DbResult};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::time::Duration;

/// How long an unlocked, unfinished claim is left to its owner before a retry may
/// take it over. The owner claims and begins its transaction on one connection, so
/// the gap it covers is a round trip or two; a stalled owner loses its claim safely.
pub const CLAIM_GRACE: Duration = Duration::from_secs(10);

/// A claim as its owner names it.
#[derive(Debug, Clone, Copy)]
pub struct OwnedClaim<'a> {
    /// The client's key.
    pub key: &'a str,
    /// The owner's token (random per request).
    pub owner: &'a str,
}

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

/// Claims `key` for this request as `owner` (or takes over an expired or abandoned
/// claim), else says what the earlier request with the key left.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    claim: OwnedClaim<'_>,
    request_hash: &str,
) -> DbResult<Claim> {
    let inserted = diesel::sql_query(
        "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, body, created_at, owner)
         VALUES ($1, $2, $3, NULL, NULL, now(), $4)
         ON CONFLICT (tenant_id, key) DO NOTHING",
    )
    .bind::<BigInt, _>(tenant_id)
    .bind::<Text, _>(claim.key)
    .bind::<Text, _>(request_hash)
    .bind::<Text, _>(claim.owner)
    .execute(conn)
    .await?;
    if inserted > 0 {
        return Ok(Claim::Fresh);
    }
    // A row its owner's transaction holds is skipped: never taken from a live owner.
    let taken = diesel::sql_query(
        "WITH takeable AS (
            SELECT tenant_id, key FROM idempotency_keys
             WHERE tenant_id = $1 AND key = $2
               AND (created_at < now() - interval '24 hours'
                    OR (status IS NULL AND created_at < now() - make_interval(secs => $5)))
             FOR UPDATE SKIP LOCKED)
         UPDATE idempotency_keys i
            SET request_hash = $3, status = NULL, body = NULL, created_at = now(), owner = $4
           FROM takeable t
          WHERE i.tenant_id = t.tenant_id AND i.key = t.key",
    )
    .bind::<BigInt, _>(tenant_id)
    .bind::<Text, _>(claim.key)
    .bind::<Text, _>(request_hash)
    .bind::<Text, _>(claim.owner)
    .bind::<Double, _>(CLAIM_GRACE.as_secs_f64())
    .execute(conn)
    .await?;
    if taken > 0 {
        return Ok(Claim::Fresh);
    }
    let existing: Option<(String, Option<i32>, Option<String>)> = idempotency_keys::table
        .filter(idempotency_keys::tenant_id.eq(tenant_id))
        .filter(idempotency_keys::key.eq(claim.key))
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

/// Inside the order's transaction, first: locks the claim while this request still
/// owns it unfinished (a takeover then waits for the transaction to end, and skips
/// the row). `false`: the claim was taken over; write nothing.
pub async fn lock_claim(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    claim: OwnedClaim<'_>,
) -> DbResult<bool> {
    idempotency_keys::table
        .filter(idempotency_keys::tenant_id.eq(tenant_id))
        .filter(idempotency_keys::key.eq(claim.key))
        .filter(idempotency_keys::owner.eq(claim.owner))
        .filter(idempotency_keys::status.is_null())
        .select(idempotency_keys::tenant_id)
        .for_update()
        .first::<i64>(conn)
        .await
        .optional()
        .map(|row| row.is_some())
        .map_err(DbError::from)
}

/// Stores the response of a claim this request owns. `false`: it no longer owns an
/// unfinished claim (taken over); nothing was stored, and inside the order's
/// transaction the caller rolls back.
pub async fn complete(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    claim: OwnedClaim<'_>,
    status: u16,
    body: &str,
) -> DbResult<bool> {
    diesel::sql_query(
        "UPDATE idempotency_keys SET status = $4, body = $5
          WHERE tenant_id = $1 AND key = $2 AND owner = $3 AND status IS NULL",
    )
    .bind::<BigInt, _>(tenant_id)
    .bind::<Text, _>(claim.key)
    .bind::<Text, _>(claim.owner)
    .bind::<Integer, _>(i32::from(status))
    .bind::<Text, _>(body)
    .execute(conn)
    .await
    .map(|n| n > 0)
    .map_err(DbError::from)
}

/// Releases a claim this request owns and whose request failed, so a retry can run.
pub async fn release(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    claim: OwnedClaim<'_>,
) -> DbResult<()> {
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::tenant_id.eq(tenant_id))
            .filter(idempotency_keys::key.eq(claim.key))
            .filter(idempotency_keys::owner.eq(claim.owner))
            .filter(idempotency_keys::status.is_null()),
    )
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(DbError::from)
}
