//! Placing an order, with `Idempotency-Key`: validate the lines, claim the key,
//! create the order in one transaction (the 201 answer stored in it), store a
//! rejection's answer for replays, release the claim when the attempt failed or the
//! request was dropped unanswered, and invalidate the cached reads after the commit.

use super::reads;
use crate::db::queries::idempotency::{self, Claim, OwnedClaim};
use crate::db::queries::order_create::{self, CreateError};
use crate::domain::ordering::{validate_lines, NewLine, OrderRejection, RequestedLine};
use crate::domain::orders::InvalidInput;
use brisk_kit::cache::Cache;
use brisk_kit::db::pool::{Conn, DbPool};
use brisk_kit::db::DbError;
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Why an order was not placed.
#[derive(Debug, thiserror::Error)]
pub enum OrderingError {
    /// A field of the request breaks a rule; nothing was claimed or written.
    #[error("{}", .0.detail)]
    Invalid(InvalidInput),
    /// The order cannot be placed as asked (an answer a retry sees again).
    #[error("order rejected: {0:?}")]
    Rejected(OrderRejection),
    /// The key was used before with another body.
    #[error("Idempotency-Key was already used with a different body")]
    KeyReused,
    /// The first request with this key is still being processed.
    #[error("a request with this Idempotency-Key is still being processed")]
    InFlight,
    /// The database failed or is unavailable: the claim is released.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A placed order's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// The order was created: its JSON (answer 201).
    Created(String),
    /// A retry of a finished request: the first answer, as stored.
    Replayed {
        /// The first answer's status.
        status: u16,
        /// The first answer's body.
        body: String,
    },
}

/// The request's idempotency key and the hash of its parsed body.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// The client's key (validated at the edge).
    pub key: String,
    /// [`request_hash`] of the body.
    pub request_hash: String,
}

/// How the HTTP layer answers a rejection: (status, body). A rejection's answer is
/// stored so a retry gets the same bytes; the table of statuses stays in HTTP.
pub type RenderRejection = dyn Fn(&OrderingError) -> (u16, String) + Send + Sync;

/// A hash of the body's canonical form (keys sorted at every level), so a retry is
/// recognised whatever its key order or spacing.
pub fn request_hash(value: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = String::new();
    write(value, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// What placing an order needs.
#[derive(Clone)]
pub struct Ordering {
    db: DbPool,
    cache: Cache,
}

impl Ordering {
    /// Ordering over the process's pool and cache.
    pub fn new(db: DbPool, cache: Cache) -> Self {
        Self { db, cache }
    }

    /// `POST /api/orders` for `tenant_id`.
    pub async fn place(
        &self,
        tenant_id: i64,
        customer_id: i64,
        items: &[RequestedLine],
        idempotency: Option<Idempotency>,
        render: &RenderRejection,
    ) -> Result<Placed, OrderingError> {
        let lines = validate_lines(items).map_err(OrderingError::Invalid)?;
        let Some(idem) = idempotency else {
            return self.create(tenant_id, customer_id, &lines, render).await;
        };
        let owner = owner_token();
        let claim = OwnedClaim {
            key: &idem.key,
            owner: &owner,
        };
        // One connection for the claim and the order's transaction: the claim is
        // locked a round trip after it is made (see `idempotency`'s doc). A keyed
        // order found on a dead connection is not placed again here: it answers 503
        // with its claim released, and the client's retry with the key places it.
        let mut conn = self.db.get().await?;
        // Armed before the claim is made: a request dropped before it answers (its
        // client went away) frees its key at once instead of after `CLAIM_GRACE`.
        let mut held = HeldClaim::new(&self.db, tenant_id, claim);
        let claimed = idempotency::claim(&mut conn, tenant_id, claim, &idem.request_hash).await?;
        if claimed != Claim::Fresh {
            held.answered();
        }
        match claimed {
            Claim::Mismatch => Err(OrderingError::KeyReused),
            Claim::InFlight => Err(OrderingError::InFlight),
            Claim::Replay { status, body } => Ok(Placed::Replayed { status, body }),
            Claim::Fresh => {
                let attempt = self
                    .create_on(
                        &mut conn,
                        tenant_id,
                        customer_id,
                        &lines,
                        Some(claim),
                        render,
                    )
                    .await;
                drop(conn);
                let result = match attempt {
                    Err(Attempt::LostBeforeCommit(e)) => Err(OrderingError::Db(e)),
                    Err(Attempt::Failed(e)) => Err(e),
                    Ok(placed) => Ok(placed),
                };
                if let Err(OrderingError::Db(_)) = &result {
                    // Not an answer worth replaying: free the key for a retry.
                    release(&self.db, tenant_id, claim).await;
                }
                held.answered();
                if result.is_ok() {
                    let ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
                    reads::after_order_created(&self.cache, tenant_id, &ids).await;
                }
                result
            }
        }
    }

    /// Creates the order without a key; invalidates the cached reads after the commit.
    /// A connection found dead before the commit is replaced and the order placed
    /// again (PostgreSQL rolled the first attempt back).
    async fn create(
        &self,
        tenant_id: i64,
        customer_id: i64,
        lines: &[NewLine],
        render: &RenderRejection,
    ) -> Result<Placed, OrderingError> {
        let mut lost = 0;
        let result = loop {
            let mut conn = self.db.get().await?;
            let attempt = self
                .create_on(&mut conn, tenant_id, customer_id, lines, None, render)
                .await;
            match attempt {
                Err(Attempt::LostBeforeCommit(e)) if lost < self.db.max_size() => {
                    lost = self.lost_connection(lost, &e);
                }
                Err(Attempt::LostBeforeCommit(e)) => break Err(OrderingError::Db(e)),
                Err(Attempt::Failed(e)) => break Err(e),
                Ok(placed) => break Ok(placed),
            }
        };
        if result.is_ok() {
            let ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
            reads::after_order_created(&self.cache, tenant_id, &ids).await;
        }
        result
    }

    /// Counts one more connection found dead under an order (and says so).
    fn lost_connection(&self, lost: u32, e: &impl std::fmt::Display) -> u32 {
        log::warn!(
            "database connection lost ({e}) before the order committed; placing it on a fresh one"
        );
        self.db.count_broken_retry();
        lost + 1
    }

    /// Creates the order on `conn`; 201, or the rejection a retry must see again
    /// (stored with the claim: a 201 inside the order's transaction, a rejection
    /// right after, both only by the claim's owner).
    async fn create_on(
        &self,
        conn: &mut Conn<'_>,
        tenant_id: i64,
        customer_id: i64,
        lines: &[NewLine],
        claim: Option<OwnedClaim<'_>>,
        render: &RenderRejection,
    ) -> Result<Placed, Attempt> {
        let to_json =
            |view: &crate::db::models::OrderView| serde_json::to_string(view).unwrap_or_default();
        match order_create::create(conn, tenant_id, customer_id, lines, claim, &to_json).await {
            Ok(json) => Ok(Placed::Created(json)),
            Err(CreateError::Db(DbError::ConnectionLost(e))) => {
                Err(Attempt::LostBeforeCommit(DbError::ConnectionLost(e)))
            }
            Err(CreateError::Db(e) | CreateError::CommitUnknown(e)) => {
                Err(Attempt::Failed(OrderingError::Db(e)))
            }
            // A retry took the key over before this request began: it answers for it.
            Err(CreateError::ClaimLost) => Err(Attempt::Failed(OrderingError::InFlight)),
            Err(CreateError::Rejected(rejection)) => {
                let error = OrderingError::Rejected(rejection);
                if let Some(claim) = claim {
                    // Nothing was committed: if storing fails, the claim is released
                    // by the caller or, at worst, taken over after `CLAIM_GRACE`.
                    let (status, body) = render(&error);
                    idempotency::complete(conn, tenant_id, claim, status, &body)
                        .await
                        .map_err(|e| Attempt::Failed(e.into()))?;
                }
                Err(Attempt::Failed(error))
            }
        }
    }
}

/// Frees a failed request's claim for a retry, trying a few times: a claim left
/// behind answers retries 409 until `CLAIM_GRACE` lets them take it over.
async fn release(db: &DbPool, tenant_id: i64, claim: OwnedClaim<'_>) {
    let mut last = String::new();
    for pause_ms in RELEASE_PAUSES_MS {
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        let outcome = match db.get().await {
            Ok(mut conn) => idempotency::release(&mut conn, tenant_id, claim).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => return,
            Err(e) => last = e.to_string(),
        }
    }
    log::warn!(
        "idempotency key of tenant {tenant_id} not released ({last}): retries get 409 until it is taken over after {:?}",
        idempotency::CLAIM_GRACE
    );
}

/// A claim of this request until it answers. Dropped unanswered (actix drops the
/// handler of a client that reset), it releases the claim on the runtime: only the
/// owner's unfinished claim goes, so a claim completed meanwhile stands.
struct HeldClaim {
    db: DbPool,
    tenant_id: i64,
    key: String,
    owner: String,
    answered: bool,
}

impl HeldClaim {
    fn new(db: &DbPool, tenant_id: i64, claim: OwnedClaim<'_>) -> Self {
        Self {
            db: db.clone(),
            tenant_id,
            key: claim.key.to_string(),
            owner: claim.owner.to_string(),
            answered: false,
        }
    }

    /// The request reached its answer: the claim is completed, released or not ours.
    fn answered(&mut self) {
        self.answered = true;
    }
}

impl Drop for HeldClaim {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            log::warn!("an abandoned idempotency claim is left to its grace: no runtime");
            return;
        };
        let (db, tenant_id) = (self.db.clone(), self.tenant_id);
        let (key, owner) = (
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.owner),
        );
        runtime.spawn(async move {
            let claim = OwnedClaim {
                key: &key,
                owner: &owner,
            };
            release(&db, tenant_id, claim).await;
        });
    }
}

/// How one attempt at an order failed.
enum Attempt {
    /// For good: the answer.
    Failed(OrderingError),
    /// The connection was found dead before the transaction could commit (nothing
    /// was written): the order may be placed again on a fresh connection.
    LostBeforeCommit(DbError),
}

/// Pauses before each attempt to release a failed request's claim.
const RELEASE_PAUSES_MS: [u64; 3] = [0, 100, 400];

/// A random token naming a claim's owner (one per request).
fn owner_token() -> String {
    let mut raw = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

#[cfg(test)]
mod tests {
    use super::request_hash;
    use serde_json::json;

    #[test]
    fn request_hash_ignores_key_order_but_not_values() {
        let a =
            request_hash(&json!({"customer_id": 1, "items": [{"product_id": 2, "quantity": 3}]}));
        let b =
            request_hash(&json!({"items": [{"quantity": 3, "product_id": 2}], "customer_id": 1}));
        let c =
            request_hash(&json!({"items": [{"quantity": 4, "product_id": 2}], "customer_id": 1}));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
