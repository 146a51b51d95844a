//! API-key authentication: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
//! Keys are stored as SHA-256 hex; the look-up is by hash and the stored hash is
//! compared again in constant time. Resolved keys are memoized in-process for a
//! short TTL so a hot key costs no query; expiry is still checked on every use.

use crate::caller::{AuthContext, PlanName};
use crate::domain::types::Plan;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header::HeaderMap;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::{ready, Ready};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long a resolved key is trusted without asking the database again.
pub const KEY_MEMO_TTL: Duration = Duration::from_secs(30);
const KEY_MEMO_CAPACITY: usize = 10_000;

#[derive(Clone)]
struct Memo {
    /// `None`: the key is unknown. Remembered too, so a client hammering with a
    /// wrong key costs no query (a new login token is random: never pre-cached).
    ctx: Option<AuthContext>,
    expires_at: Option<DateTime<Utc>>,
    cached_at: Instant,
}

/// Process-wide memo of resolved keys, keyed by key hash.
#[derive(Clone, Default)]
pub struct KeyMemo {
    map: Arc<RwLock<HashMap<String, Memo>>>,
}

impl KeyMemo {
    fn get(&self, hash: &str) -> Option<Memo> {
        let map = self.map.read().ok()?;
        map.get(hash)
            .filter(|m| m.cached_at.elapsed() < KEY_MEMO_TTL)
            .cloned()
    }

    fn put(&self, hash: String, memo: Memo) {
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

/// The presented key, if any.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some(v[7..].trim());
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Resolves the request's key to its tenant, or 401.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<AuthContext, ApiError> {
    let key = presented_key(headers).ok_or_else(|| {
        ApiError::Unauthorized("missing API key (Authorization: Bearer <key> or X-API-Key)".into())
    })?;
    if key.len() > 512 {
        return Err(ApiError::Unauthorized("invalid API key".into()));
    }
    let hash = hash_key(key);
    let memo = match state.keys.get(&hash) {
        Some(m) => m,
        None => {
            // Second layer: the look-up memoized in the shared cache (all processes).
            let record = match crate::warm::recipes::api_key(&state.cache, &state.db, &hash).await {
                Ok(r) if bool::from(r.key_hash.as_bytes().ct_eq(hash.as_bytes())) => Some(r),
                Ok(_) | Err(ApiError::Unauthorized(_)) => None,
                Err(other) => return Err(other),
            };
            let memo = match record {
                Some(record) => Memo {
                    ctx: Some(AuthContext {
                        tenant_id: record.tenant_id,
                        // The application's plan, as the name it declared to the limiter.
                        plan: PlanName(
                            record
                                .plan
                                .parse::<Plan>()
                                .map_err(ApiError::internal)?
                                .as_str(),
                        ),
                        key_id: record.key_id,
                        user_id: None,
                    }),
                    expires_at: record.expires_at,
                    cached_at: Instant::now(),
                },
                None => Memo {
                    ctx: None,
                    expires_at: None,
                    cached_at: Instant::now(),
                },
            };
            state.keys.put(hash, memo.clone());
            memo
        }
    };
    let ctx = memo
        .ctx
        .ok_or_else(|| ApiError::Unauthorized("invalid API key".into()))?;
    if memo.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(ApiError::Unauthorized("API key expired".into()));
    }
    Ok(ctx)
}

/// Extractor for handlers: the caller's tenant, put there by the auth middleware.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub AuthContext);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<AuthContext>()
                .copied()
                .map(Caller)
                .ok_or_else(|| ApiError::Unauthorized("missing API key".into())),
        )
    }
}
