//! Sessions: API-key authentication with its memos, and login. Keys are stored as
//! hex SHA-256; the look-up is by hash and the stored hash is compared again in
//! constant time. Login runs argon2 on the blocking pool, and an unknown email
//! costs the same hash as a wrong password so timing does not reveal which
//! emails exist.
//!
//! # How long a revoked key lives: bounded memos
//!
//! A key deleted from `api_keys` (by the API or by plain SQL) or past its `expires_at`
//! must stop authenticating within 5 s on every process (API.md, "Hostile input").
//! Expiry is checked on every use against the remembered `expires_at`, so an expired
//! key stops at once. A deletion is seen when the memos run out:
//!
//! - the in-process memo keeps a look-up [`KEY_MEMO_TTL`] (1 s), and
//! - the shared memo (Redis, so a key is looked up in the database once per cluster,
//!   not once per process) keeps it [`SHARED_KEY_TTL`] (3 s) as a plain `SET … PX`:
//!   never refreshed in the background and never served past its TTL, not even when
//!   the database is failing (no stale-if-error for credentials).
//!
//! A look-up is therefore at most [`MAX_KEY_STALENESS`] (4 s) old. Unknown keys are
//! remembered the same way (in Redis too, so a repeated bad key costs every process
//! one query per 3 s at most).
//!
//! The alternative, a trigger that `NOTIFY`s on every change of `api_keys` and a
//! `LISTEN`ing actor in each process, would let the memos live longer, but it needs
//! a direct (non-PgBouncer) session per process, and a missed notification (listener
//! reconnecting, a notification lost with its session) would let a key live on
//! silently: the memos would have to be bounded anyway. Bounded memos give the
//! guarantee by construction, at one indexed query per key per 3 s cluster-wide.

use crate::db::queries;
use crate::domain::Plan;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use brisk_kit::authenticate::{AuthError, Authenticate};
use brisk_kit::breaker::Breaker;
use brisk_kit::caller::{AuthContext, PlanName};
use brisk_kit::clock::Clock;
use brisk_kit::db::pool::DbPool;
use brisk_kit::db::DbError;
use brisk_kit::flight::SingleFlight;
use brisk_kit::redis::{budget, keys, Redis};
use chrono::{DateTime, Duration as Days, Utc};
use futures_util::future::BoxFuture;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long a look-up is trusted in-process without asking again.
pub const KEY_MEMO_TTL: Duration = Duration::from_secs(1);
/// How long the shared (Redis) memo keeps a look-up; never served past it.
pub const SHARED_KEY_TTL: Duration = Duration::from_secs(3);
/// The oldest look-up a request can be authenticated by: a deleted key stops
/// authenticating on every process within this (API.md asks for 5 s).
pub const MAX_KEY_STALENESS: Duration = Duration::from_secs(4);
/// How long a login token lives.
pub const TOKEN_LIFETIME_HOURS: i64 = 24;
const KEY_MEMO_CAPACITY: usize = 10_000;
/// Longer keys are rejected without a look-up.
const MAX_KEY_LEN: usize = 512;
/// After a Redis error the shared memo is skipped this long (the database answers).
const SHARED_MEMO_BREAKER: Duration = Duration::from_secs(1);

const _: () =
    assert!(KEY_MEMO_TTL.as_millis() + SHARED_KEY_TTL.as_millis() <= MAX_KEY_STALENESS.as_millis());

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

/// What an API-key hash resolves to (kept in the shared memo as JSON; `null` there
/// means the key is unknown).
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
    /// The user of a login token; `None` for a plain API key.
    #[serde(default)]
    pub user_id: Option<i64>,
}

#[derive(Clone, Debug)]
struct Remembered {
    /// `None`: the key is unknown. Remembered too, so a client hammering with a
    /// wrong key costs no query (a new login token is random: never pre-cached).
    ctx: Option<AuthContext>,
    expires_at: Option<DateTime<Utc>>,
    cached_at: Instant,
}

impl Remembered {
    fn fresh(&self) -> bool {
        self.cached_at.elapsed() < KEY_MEMO_TTL
    }

    /// The caller, when the key is known and not expired now.
    fn caller(&self) -> Result<AuthContext, AuthError> {
        let ctx = self.ctx.ok_or(AuthError::Rejected)?;
        if self.expires_at.is_some_and(|t| t <= Utc::now()) {
            return Err(AuthError::Rejected);
        }
        Ok(ctx)
    }
}

/// Process-wide memo of look-ups, keyed by key hash, with one look-up in flight
/// per hash (concurrent requests with the same key share it).
#[derive(Clone, Default)]
struct KeyMemo {
    map: Arc<RwLock<HashMap<String, Remembered>>>,
    flights: Arc<SingleFlight<String, Result<Remembered, AuthError>>>,
}

impl KeyMemo {
    fn get(&self, hash: &str) -> Option<Remembered> {
        let map = self.map.read().ok()?;
        map.get(hash).filter(|m| m.fresh()).cloned()
    }

    fn put(&self, hash: String, memo: Remembered) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= KEY_MEMO_CAPACITY {
                map.retain(|_, m| m.fresh());
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

/// The shared memo of look-ups in Redis: plain `GET` / `SET … PX`, skipped for a
/// moment after a Redis error (the database answers meanwhile).
#[derive(Clone)]
struct SharedMemo {
    redis: Redis,
    breaker: Arc<Breaker>,
}

impl SharedMemo {
    /// `<prefix>:v1:authkey:{<hash>}`: each key hash its own hash tag (no two keys
    /// are ever read together).
    fn key(&self, hash: &str) -> String {
        keys::key(self.redis.prefix(), "authkey", hash, "")
    }

    /// The breaker is closed, and Redis has not failed earlier in this request
    /// (`brisk_kit::redis::budget`).
    fn available(&self) -> bool {
        !self.breaker.is_open() && !budget::spent()
    }

    fn failed(&self, what: &str) {
        budget::failed();
        if self.breaker.trip() {
            log::warn!("key memo: Redis {what}; asking the database for {SHARED_MEMO_BREAKER:?}");
        }
    }

    /// `Some(None)`: remembered as unknown; `None`: not remembered (or Redis failed).
    async fn get(&self, hash: &str) -> Option<Option<ApiKeyRecord>> {
        if !self.available() {
            return None;
        }
        let mut conn = self.redis.conn();
        let cmd = redis::cmd("GET").arg(self.key(hash)).clone();
        let call = cmd.query_async::<Option<String>>(&mut conn);
        match tokio::time::timeout(self.redis.timeout(), call).await {
            Ok(Ok(found)) => serde_json::from_str(&found?).ok(),
            Ok(Err(e)) => {
                self.failed(&format!("failed ({e})"));
                None
            }
            Err(_) => {
                self.failed("timed out");
                None
            }
        }
    }

    async fn put(&self, hash: &str, record: &Option<ApiKeyRecord>) {
        if !self.available() {
            return;
        }
        let Ok(json) = serde_json::to_string(record) else {
            return;
        };
        let mut conn = self.redis.conn();
        let cmd = redis::cmd("SET")
            .arg(self.key(hash))
            .arg(json)
            .arg("PX")
            .arg(SHARED_KEY_TTL.as_millis() as u64)
            .clone();
        let call = cmd.query_async::<()>(&mut conn);
        match tokio::time::timeout(self.redis.timeout(), call).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.failed(&format!("failed ({e})")),
            Err(_) => self.failed("timed out"),
        }
    }
}

/// Authenticates API keys: the in-process memo, then the shared memo, then the
/// database. Handed to the kit as the application's [`Authenticate`].
#[derive(Clone)]
pub struct Sessions {
    db: DbPool,
    shared: Option<SharedMemo>,
    memo: KeyMemo,
}

impl Sessions {
    /// Sessions over the process's pool, with no shared memo (one process, or tests).
    pub fn new(db: DbPool) -> Self {
        Self {
            db,
            shared: None,
            memo: KeyMemo::default(),
        }
    }

    /// The same, sharing look-ups with the other processes through `redis`.
    pub fn with_shared_memo(mut self, redis: Redis) -> Self {
        self.shared = Some(SharedMemo {
            redis,
            breaker: Arc::new(Breaker::new(SHARED_MEMO_BREAKER, Clock::system())),
        });
        self
    }

    /// The caller `key` belongs to.
    pub async fn authenticate_key(&self, key: &str) -> Result<AuthContext, AuthError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(AuthError::Rejected);
        }
        let hash = hash_key(key);
        if let Some(m) = self.memo.get(&hash) {
            return m.caller();
        }
        self.look_up_once(hash).await?.caller()
    }

    /// The caller of a key this process looked up less than [`KEY_MEMO_TTL`] ago.
    pub fn remembered_key(&self, key: &str) -> Option<AuthContext> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return None;
        }
        self.memo.get(&hash_key(key))?.caller().ok()
    }

    /// One look-up per hash at a time in this process; its answer goes in the memo.
    async fn look_up_once(&self, hash: String) -> Result<Remembered, AuthError> {
        // Only the call that starts the look-up copies the handle and the hash.
        let (flight, _) = self.memo.flights.join_or_start(hash.as_str(), || {
            let (this, key) = (self.clone(), hash.clone());
            async move {
                let found = this.look_up(&key).await;
                if let Ok(memo) = &found {
                    this.memo.put(key, memo.clone());
                }
                found
            }
        });
        flight
            .await
            .unwrap_or_else(|_| Err(AuthError::Internal("the key look-up panicked".into())))
    }

    /// The key's record: the shared memo, else the database (then shared).
    async fn look_up(&self, hash: &str) -> Result<Remembered, AuthError> {
        let remembered = match &self.shared {
            Some(shared) => shared.get(hash).await,
            None => None,
        };
        let record = match remembered {
            Some(record) => record,
            None => {
                let record = self.find(hash).await?;
                if let Some(shared) = &self.shared {
                    shared.put(hash, &record).await;
                }
                record
            }
        };
        let record = record.filter(|r| bool::from(r.key_hash.as_bytes().ct_eq(hash.as_bytes())));
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
                user_id: record.user_id,
            }),
            expires_at: record.expires_at,
            cached_at: Instant::now(),
        })
    }

    /// The key's row in the database.
    async fn find(&self, hash: &str) -> Result<Option<ApiKeyRecord>, AuthError> {
        let hash = hash.to_string();
        let found = self
            .db
            .read(move |c| {
                let h = hash.clone();
                Box::pin(async move { queries::auth::find_key(c, &h).await })
            })
            .await
            .map_err(unavailable)?;
        Ok(found.map(|r| ApiKeyRecord {
            key_id: r.key_id,
            tenant_id: r.tenant_id,
            plan: r.plan,
            expires_at: r.expires_at,
            key_hash: r.key_hash,
            user_id: r.user_id,
        }))
    }
}

fn unavailable(e: DbError) -> AuthError {
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

    fn remembered(&self, key: &str) -> Option<AuthContext> {
        self.remembered_key(key)
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
        user.user_id,
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
