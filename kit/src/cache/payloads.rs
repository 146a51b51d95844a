//! An in-process copy of large payloads, addressed by their ETag (a hash of the
//! content), so a hit on a large view moves only the entry's header from Redis.
//! Content addressing makes it always correct: a changed value has another ETag,
//! and freshness and generation still come from Redis on every read. Bounded by
//! bytes; when full it is emptied (old ETags are never asked for again).

use super::store::Read;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Payloads up to this size come back whole from a view read; larger ones go
/// through this copy.
pub const WHOLE_UP_TO: usize = 8 * 1024;
/// How a view reads (`Cache::view`, and the guard's early read of one): whole up to
/// [`WHOLE_UP_TO`], else its header, the payload then coming from this copy.
pub const VIEW_READ: Read = Read::View {
    whole_up_to: WHOLE_UP_TO,
};
const MAX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Default)]
struct State {
    map: HashMap<Arc<str>, Bytes>,
    bytes: usize,
}

/// ETag → payload, shared by the workers of a process.
#[derive(Default)]
pub struct Payloads {
    state: RwLock<State>,
}

impl Payloads {
    /// The payload kept for `etag`, if any.
    pub fn get(&self, etag: &str) -> Option<Bytes> {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .get(etag)
            .cloned()
    }

    /// Keeps `payload` if it is large enough to be read header-only.
    pub fn put(&self, etag: &Arc<str>, payload: &Bytes) {
        if payload.len() <= WHOLE_UP_TO || payload.len() > MAX_BYTES / 4 {
            return;
        }
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if state.map.contains_key(etag) {
            return;
        }
        if state.bytes + payload.len() > MAX_BYTES {
            state.map.clear();
            state.bytes = 0;
        }
        state.bytes += payload.len();
        state.map.insert(Arc::clone(etag), payload.clone());
    }
}
