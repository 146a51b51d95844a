//! API keys and users: credential look-ups (by hash) and login tokens.

use crate::db::schema::{api_keys, tenants, users};
use brisk_kit::db::error::{DbError, DbResult};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// What a key hash resolves to.
#[derive(Debug, Clone, Queryable)]
pub struct KeyRecord {
    /// `api_keys.id`.
    pub key_id: i64,
    /// The tenant the key belongs to.
    pub tenant_id: i64,
    /// The tenant's plan (`free`, `pro`, `enterprise`).
    pub plan: String,
    /// When the key stops working; `None` never.
    pub expires_at: Option<DateTime<Utc>>,
    /// SHA-256 hex of the key.
    pub key_hash: String,
    /// The user a login token belongs to; `None` for a plain API key.
    pub user_id: Option<i64>,
}

/// The key whose SHA-256 hex is `key_hash`, with its tenant's plan; `None` if unknown.
pub async fn find_key(conn: &mut AsyncPgConnection, key_hash: &str) -> DbResult<Option<KeyRecord>> {
    api_keys::table
        .inner_join(tenants::table)
        .filter(api_keys::key_hash.eq(key_hash))
        .select((
            api_keys::id,
            api_keys::tenant_id,
            tenants::plan,
            api_keys::expires_at,
            api_keys::key_hash,
            api_keys::user_id,
        ))
        .first(conn)
        .await
        .optional()
        .map_err(DbError::from)
}

/// A user's credentials, found by email.
#[derive(Debug, Clone, Queryable)]
pub struct UserCredentials {
    /// `users.id`.
    pub user_id: i64,
    /// The user's tenant.
    pub tenant_id: i64,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// The user with this email; `None` if there is none.
pub async fn find_user(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> DbResult<Option<UserCredentials>> {
    users::table
        .filter(users::email.eq(email))
        .select((users::id, users::tenant_id, users::password_hash))
        .first(conn)
        .await
        .optional()
        .map_err(DbError::from)
}

/// Stores a login token (by its hash) for a user of the tenant.
pub async fn insert_token(
    conn: &mut AsyncPgConnection,
    tenant_id: i64,
    user_id: i64,
    key_hash: &str,
    label: &str,
    expires_at: DateTime<Utc>,
) -> DbResult<()> {
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::tenant_id.eq(tenant_id),
            api_keys::user_id.eq(Some(user_id)),
            api_keys::key_hash.eq(key_hash),
            api_keys::label.eq(label),
            api_keys::expires_at.eq(Some(expires_at)),
        ))
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(DbError::from)
}

/// Every tenant id (the warming scheduler preloads their catalogs).
pub async fn tenant_ids(conn: &mut AsyncPgConnection) -> DbResult<Vec<i64>> {
    tenants::table
        .select(tenants::id)
        .order(tenants::id)
        .load(conn)
        .await
        .map_err(DbError::from)
}
