//! How a failed dependency call is answered, classified once for every layer that
//! answers requests: the web layer maps a [`Failure`] to a status without knowing
//! the database's error type.

use crate::db::DbError;

/// A dependency failure, by what it means to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A row that had to exist does not.
    NotFound,
    /// Saturated or briefly away: retry after this many seconds.
    Unavailable {
        /// A sentence for the client (no internals).
        detail: &'static str,
        /// When to retry.
        retry_after_secs: u64,
    },
    /// Anything else: the cause, for the log only.
    Internal(String),
}

/// Retry hint of a saturated or restarting database.
const DB_RETRY_AFTER_SECS: u64 = 1;

impl From<&DbError> for Failure {
    fn from(e: &DbError) -> Self {
        let unavailable = |detail| Failure::Unavailable {
            detail,
            retry_after_secs: DB_RETRY_AFTER_SECS,
        };
        match e {
            DbError::NotFound => Failure::NotFound,
            DbError::PoolTimeout { .. } => {
                unavailable("no database connection became free in time")
            }
            DbError::Unreachable(_) => unavailable("the database is unavailable"),
            DbError::ConnectionLost(_) => unavailable("the database connection was lost"),
            DbError::StatementTimeout(_) => unavailable("the database did not answer in time"),
            DbError::Query(cause) => Failure::Internal(cause.to_string()),
        }
    }
}
