//! Sessions: API-key authentication with its memo, and login. Keys are stored as
//! hex SHA-256; the look-up is by hash and the stored hash is compared again in
//! constant time. Login runs argon2 on the blocking pool, and an unknown email
//! costs the same hash as a wrong password so timing does not reveal which
//! emails exist.

use crate::authenticate::{AuthError, Authenticate};
use crate::cache::{Cache, Scope};
use crate::caller::{AuthContext, PlanName};
use crate::db::pool::DbPool;
use crate::db::queries;
use crate::db::DbError;
use crate::domain::Plan;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration as Days, Utc};
use futures_util::future::BoxFuture;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long a resolved key is trusted in-process without asking again.
pub const KEY_MEMO_TTL: Duration = Duration::from_secs(30);
/// The shared (Redis) memo of key look-ups.
pub const API_KEY: &str = "api_key";
/// How long the shared memo keeps a look-up.
pub const API_KEY_TTL: Duration = Duration::from_secs(30);
/// How long a login token lives.
pub const TOKEN_LIFETIME_HOURS: i64 = 24;
const KEY_MEMO_CAPACITY: usize = 10_000;
/// Longer keys are rejected without a look-up.
const MAX_KEY_LEN: usize = 512;

/// Why a session use case failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A field of the request is invalid; the detail names it.
    #[error("{field}: {detail}")]
    Invalid {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The email and password do not match a user.
    #[error("invalid email or password")]
    BadCredentials,
    /// The database failed or is unavailable.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Password hashing failed unexpectedly.
    #[error("{0}")]
    Internal(String),
}

/// What an API-key hash resolves to (memoized in the shared cache).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// The `api_keys` row.
    pub key_id: i64,
    /// Its tenant.
    pub tenant_id: i64,
    /// The tenant's plan, as stored.
    pub plan: String,
    /// When the key stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// The stored hash, compared again in constant time.
    pub key_hash: String,
}

#[derive(Clone)]
struct Remembered {
    /// `None`: the key is unknown. Remembered too, so a client hammering with a
    /// wrong key costs no query (a new login token is random: never pre-cached).
    ctx: Option<AuthContext>,
    expires_at: Option<DateTime<Utc>>,
    cached_at: Instant,
}

/// Process-wide memo of resolved keys, keyed by key hash.
#[derive(Clone, Default)]
struct KeyMemo {
    map: Arc<RwLock<HashMap<String, Remembered>>>,
}

impl KeyMemo {
    fn get(&self, hash: &str) -> Option<Remembered> {
        let map = self.map.read().ok()?;
        map.get(hash)
            .filter(|m| m.cached_at.elapsed() < KEY_MEMO_TTL)
            .cloned()
    }

    fn put(&self, hash: String, memo: Remembered) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= KEY_MEMO_CAPACITY {
                map.retain(|_, m| m.cached_at.elapsed() < KEY_MEMO_TTL);
                if map.len() >= KEY_MEMO_CAPACITY {
                    map.clear();
                }
            }
            map.insert(hash, memo);
        }
    }
}

/// Lowercase hex SHA-256, the form keys are stored in.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Authenticates API keys: the in-process memo, then the shared memo, then the
/// database. Handed to the kit as the application's [`Authenticate`].
#[derive(Clone)]
pub struct Sessions {
    cache: Cache,
    db: DbPool,
    memo: KeyMemo,
}

impl Sessions {
    /// Sessions over the process's cache and pool.
    pub fn new(cache: Cache, db: DbPool) -> Self {
        Self {
            cache,
            db,
            memo: KeyMemo::default(),
        }
    }

    /// The caller `key` belongs to.
    pub async fn authenticate_key(&self, key: &str) -> Result<AuthContext, AuthError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(AuthError::Rejected);
        }
        let hash = hash_key(key);
        let memo = match self.memo.get(&hash) {
            Some(m) => m,
            None => {
                let memo = self.look_up(&hash).await?;
                self.memo.put(hash, memo.clone());
                memo
            }
        };
        let ctx = memo.ctx.ok_or(AuthError::Rejected)?;
        if memo.expires_at.is_some_and(|t| t <= Utc::now()) {
            return Err(AuthError::Rejected);
        }
        Ok(ctx)
    }

    /// The key's record through the shared memo (all processes).
    async fn look_up(&self, hash: &str) -> Result<Remembered, AuthError> {
        let record = match api_key(&self.cache, &self.db, hash).await {
            Ok(Some(r)) if bool::from(r.key_hash.as_bytes().ct_eq(hash.as_bytes())) => Some(r),
            Ok(_) => None,
            Err(e) => return Err(unavailable(e)),
        };
        let Some(record) = record else {
            return Ok(Remembered {
                ctx: None,
                expires_at: None,
                cached_at: Instant::now(),
            });
        };
        let plan = record
            .plan
            .parse::<Plan>()
            .map_err(|e| AuthError::Internal(format!("key {}: {e}", record.key_id)))?;
        Ok(Remembered {
            ctx: Some(AuthContext {
                tenant_id: record.tenant_id,
                plan: PlanName(plan.as_str()),
                key_id: record.key_id,
                user_id: None,
            }),
            expires_at: record.expires_at,
            cached_at: Instant::now(),
        })
    }
}

fn unavailable(e: Arc<DbError>) -> AuthError {
    if e.is_transient() {
        AuthError::Unavailable {
            detail: "the database is unavailable".into(),
            retry_after_secs: 1,
        }
    } else {
        AuthError::Internal(e.to_string())
    }
}

impl Authenticate for Sessions {
    fn authenticate<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<AuthContext, AuthError>> {
        Box::pin(self.authenticate_key(key))
    }
}

/// Resolves a key hash, memoized across processes for a short TTL (unknown keys
/// are not stored there). Expiry is the caller's to check on every use.
async fn api_key(
    cache: &Cache,
    db: &DbPool,
    key_hash: &str,
) -> Result<Option<ApiKeyRecord>, Arc<DbError>> {
    let db = db.clone();
    let hash = key_hash.to_string();
    let memo = cache
        .memoize(
            API_KEY,
            key_hash,
            Scope::Public,
            API_KEY_TTL,
            move || async move {
                let found = db
                    .read(move |c| {
                        let h = hash.clone();
                        Box::pin(async move { queries::auth::find_key(c, &h).await })
                    })
                    .await?;
                found
                    .map(|r| ApiKeyRecord {
                        key_id: r.key_id,
                        tenant_id: r.tenant_id,
                        plan: r.plan,
                        expires_at: r.expires_at,
                        key_hash: r.key_hash,
                    })
                    .ok_or(KeyLookup::Unknown)
            },
        )
        .await;
    match memo {
        Ok(m) => Ok(Some(m.value)),
        Err(KeyLookup::Unknown) => Ok(None),
        Err(KeyLookup::Db(e)) => Err(e),
    }
}

/// The shared memo's failure: an unknown key is not stored.
#[derive(Debug, Clone, thiserror::Error)]
enum KeyLookup {
    #[error("unknown key")]
    Unknown,
    #[error(transparent)]
    Db(Arc<DbError>),
}

impl From<DbError> for KeyLookup {
    fn from(e: DbError) -> Self {
        KeyLookup::Db(Arc::new(e))
    }
}

/// A successful login.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Login {
    /// The new API key (shown once; stored as its hash).
    pub token: String,
    /// The user's tenant.
    pub tenant_id: i64,
}

/// A hash of a random password: verified against when the email is unknown.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let mut secret = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Argon2::default()
            .hash_password(&secret, &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

fn validate(email: &str, password: &str) -> Result<String, SessionError> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || email.len() > 320 {
        return Err(SessionError::Invalid {
            field: "email",
            detail: "email must be 1 to 320 characters".into(),
        });
    }
    if password.is_empty() || password.len() > 1024 {
        return Err(SessionError::Invalid {
            field: "password",
            detail: "password must be 1 to 1024 characters".into(),
        });
    }
    Ok(email)
}

/// `POST /api/login`: email + password → a new API key valid 24 hours.
pub async fn login(db: &DbPool, email: &str, password: String) -> Result<Login, SessionError> {
    let email = validate(email, &password)?;
    let user = db
        .read(move |c| {
            let e = email.clone();
            Box::pin(async move { queries::auth::find_user(c, &e).await })
        })
        .await?;
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_string());
    let ok = tokio::task::spawn_blocking(move || verify(&password, &phc))
        .await
        .map_err(|e| SessionError::Internal(e.to_string()))?;
    let Some(user) = user.filter(|_| ok) else {
        return Err(SessionError::BadCredentials);
    };
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = format!("bk_{}", hex::encode(raw));
    let expires_at = Utc::now() + Days::hours(TOKEN_LIFETIME_HOURS);
    let mut conn = db.get().await?;
    queries::auth::insert_token(
        &mut conn,
        user.tenant_id,
        &hash_key(&token),
        "login",
        expires_at,
    )
    .await?;
    Ok(Login {
        token,
        tenant_id: user.tenant_id,
    })
}
