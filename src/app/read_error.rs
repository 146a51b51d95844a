//! Why a read failed ([`ReadError`]), and the JSON rendering that fails with it:
//! shared by the read models (`views`) and the read policy (`reads`), below both.

use brisk_kit::db::DbError;
use bytes::Bytes;
use std::sync::Arc;

/// Why a read failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// The tenant owns no such row.
    #[error("{0}")]
    NotFound(String),
    /// The database failed or is unavailable (shared: a computation's error goes
    /// to every caller waiting on it).
    #[error(transparent)]
    Db(Arc<DbError>),
    /// A recipe was called in a way the application never registers (a bug).
    #[error("{0}")]
    Internal(String),
}

impl From<DbError> for ReadError {
    fn from(e: DbError) -> Self {
        ReadError::Db(Arc::new(e))
    }
}

/// `value` as JSON bytes (what the cache stores and the handlers send).
pub(crate) fn to_bytes<T: serde::Serialize>(value: &T) -> Result<Bytes, ReadError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| ReadError::Internal(e.to_string()))
}
