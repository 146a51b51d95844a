//! The binary form of a cache entry, identical in Redis and in the memory store:
//!
//! ```text
//! [version u8 = 1][generation u64 BE][soft expiry, unix ms u64 BE][etag len u8][etag][payload]
//! ```
//!
//! The header has a fixed layout so the Redis script that answers `If-None-Match`
//! can compare the etag and return the header alone (no payload transfer). Anything
//! that does not decode is a miss, never an error.

use bytes::{BufMut, Bytes, BytesMut};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Current envelope version; a different first byte decodes as a miss.
pub const VERSION: u8 = 1;
/// Bytes before the etag: version, generation, soft expiry, etag length.
pub const FIXED_HEADER: usize = 1 + 8 + 8 + 1;

/// A decoded entry. `payload` is `None` when only the header was read (the
/// `If-None-Match` path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The generation of the entry's counter it was computed under.
    pub generation: u64,
    /// Unix ms (by the writer's cache clock) after which it is served stale.
    pub soft_expiry_ms: u64,
    /// Strong, quoted ETag of the payload.
    pub etag: Arc<str>,
    /// The stored bytes (`None`: header only).
    pub payload: Option<Bytes>,
}

impl Envelope {
    /// Builds an entry for freshly computed bytes, deriving the strong etag.
    pub fn new(generation: u64, soft_expiry_ms: u64, payload: Bytes) -> Self {
        Self {
            generation,
            soft_expiry_ms,
            etag: etag_of(&payload),
            payload: Some(payload),
        }
    }

    /// The wire form (payload must be present).
    pub fn encode(&self) -> Bytes {
        let payload = self.payload.as_deref().unwrap_or_default();
        let etag = self.etag.as_bytes();
        let etag_len = etag.len().min(u8::MAX as usize);
        let mut out = BytesMut::with_capacity(FIXED_HEADER + etag_len + payload.len());
        out.put_u8(VERSION);
        out.put_u64(self.generation);
        out.put_u64(self.soft_expiry_ms);
        out.put_u8(etag_len as u8);
        out.put_slice(&etag[..etag_len]);
        out.put_slice(payload);
        out.freeze()
    }

    /// Decodes a full entry, or a header alone when `header_only`. `None` = miss.
    pub fn decode(raw: &[u8], header_only: bool) -> Option<Self> {
        if raw.len() < FIXED_HEADER || raw[0] != VERSION {
            return None;
        }
        let generation = u64::from_be_bytes(raw[1..9].try_into().ok()?);
        let soft_expiry_ms = u64::from_be_bytes(raw[9..17].try_into().ok()?);
        let etag_len = raw[17] as usize;
        let etag_end = FIXED_HEADER + etag_len;
        if raw.len() < etag_end {
            return None;
        }
        let etag = std::str::from_utf8(&raw[FIXED_HEADER..etag_end]).ok()?;
        if !etag.starts_with('"') || !etag.ends_with('"') || etag.len() < 2 {
            return None;
        }
        let payload = if header_only {
            None
        } else {
            Some(Bytes::copy_from_slice(&raw[etag_end..]))
        };
        Some(Self {
            generation,
            soft_expiry_ms,
            etag: Arc::from(etag),
            payload,
        })
    }
}

/// Strong, quoted etag: the first 128 bits of the payload's SHA-256, in hex.
pub fn etag_of(payload: &[u8]) -> Arc<str> {
    let digest = Sha256::digest(payload);
    Arc::from(format!("\"{}\"", hex::encode(&digest[..16])))
}

/// The etags listed in an `If-None-Match` header (weak prefixes dropped: the header
/// uses the weak comparison), or `["*"]`.
pub fn parse_if_none_match(header: &str) -> Vec<String> {
    header
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.strip_prefix("W/").unwrap_or(t).to_string())
        .collect()
}

/// True when `etag` satisfies one of the parsed `If-None-Match` candidates.
pub fn if_none_match_matches(candidates: &[String], etag: &str) -> bool {
    candidates.iter().any(|c| c == "*" || c == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_round_trips() {
        let env = Envelope::new(7, 1_700_000_000_123, Bytes::from_static(b"{\"a\":1}"));
        let back = Envelope::decode(&env.encode(), false).unwrap();
        assert_eq!(back, env);
        let head = Envelope::decode(&env.encode(), true).unwrap();
        assert_eq!(head.payload, None);
        assert_eq!(head.etag, env.etag);
    }

    #[test]
    fn garbage_decodes_as_a_miss() {
        assert_eq!(Envelope::decode(b"", false), None);
        assert_eq!(
            Envelope::decode(b"hello world, not an envelope", false),
            None
        );
        let mut wrong_version = Envelope::new(1, 2, Bytes::from_static(b"x"))
            .encode()
            .to_vec();
        wrong_version[0] = 9;
        assert_eq!(Envelope::decode(&wrong_version, false), None);
        let truncated = Envelope::new(1, 2, Bytes::from_static(b"x")).encode();
        assert_eq!(Envelope::decode(&truncated[..20], false), None);
    }

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        let c = parse_if_none_match("\"a\", W/\"b\"");
        assert!(if_none_match_matches(&c, "\"b\""));
        assert!(!if_none_match_matches(&c, "\"c\""));
        assert!(if_none_match_matches(&parse_if_none_match("*"), "\"z\""));
    }
}
