//! What a request's path names, parsed at the edge.

use brisk_kit::http::error::ApiError;

/// Path ids: anything that is not a positive integer names no resource.
pub fn path_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(format!("no {what} with id {raw:?}")))
}
