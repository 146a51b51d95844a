//! The kit's authentication hook: the application turns a presented API key into
//! the request's [`AuthContext`]; the kit's middleware finds the key in the request
//! (`Authorization: Bearer <key>` or `X-API-Key`), calls the hook on the routes the
//! application protects, and answers a failure with the one 401 body.

use crate::caller::AuthContext;
use futures_util::future::BoxFuture;

/// Why a presented key did not authenticate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The key is unknown, malformed, expired or revoked: always the same 401.
    #[error("invalid API key")]
    Rejected,
    /// The key could not be checked now (the database is saturated or down).
    #[error("authentication unavailable: {detail}")]
    Unavailable {
        /// What failed, for the 503 body.
        detail: String,
        /// When to retry.
        retry_after_secs: u64,
    },
    /// An unexpected failure: logged, answered 500 without detail.
    #[error("authentication failed: {0}")]
    Internal(String),
}

/// Resolves a presented key to its caller. Implemented by the application and
/// handed to the kit's start-up.
pub trait Authenticate: Send + Sync + 'static {
    /// The caller `key` belongs to, or why not.
    fn authenticate<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<AuthContext, AuthError>>;

    /// The caller of `key` when this process verified it recently and it is still
    /// valid, answered without any I/O (an in-process memo); `None` otherwise (the
    /// default). A remembered key skips the failed-authentication reservation: the kit
    /// only checks that the client's address is not already over its failure limit.
    fn remembered(&self, _key: &str) -> Option<AuthContext> {
        None
    }
}
