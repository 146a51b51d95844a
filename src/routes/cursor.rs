//! Opaque keyset cursors: `(created_at, id)` signed with HMAC-SHA256 over the
//! tenant too, so a cursor cannot be forged, edited, or replayed by another tenant.

use crate::domain::orders::OrderPosition;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;

/// The key that signs the order lists' keyset cursors (the same in every process).
#[derive(Clone)]
pub struct CursorKey(pub Arc<[u8]>);

type HmacSha256 = Hmac<Sha256>;
const PAYLOAD: usize = 16;
const TAG: usize = 16;

fn mac(secret: &[u8], tenant_id: i64, payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"brisk-cursor-v1");
    mac.update(&tenant_id.to_be_bytes());
    mac.update(payload);
    mac
}

pub fn encode(secret: &[u8], tenant_id: i64, pos: OrderPosition) -> String {
    let mut bytes = Vec::with_capacity(PAYLOAD + TAG);
    bytes.extend_from_slice(&pos.created_at.timestamp_micros().to_be_bytes());
    bytes.extend_from_slice(&pos.id.to_be_bytes());
    let tag = mac(secret, tenant_id, &bytes).finalize().into_bytes();
    bytes.extend_from_slice(&tag[..TAG]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `None` for anything malformed or tampered with.
pub fn decode(secret: &[u8], tenant_id: i64, raw: &str) -> Option<OrderPosition> {
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
    if bytes.len() != PAYLOAD + TAG {
        return None;
    }
    let (payload, tag) = bytes.split_at(PAYLOAD);
    // Constant-time comparison of the truncated tag.
    mac(secret, tenant_id, payload)
        .verify_truncated_left(tag)
        .ok()?;
    let micros = i64::from_be_bytes(payload[..8].try_into().ok()?);
    let id = i64::from_be_bytes(payload[8..].try_into().ok()?);
    let created_at = DateTime::<Utc>::from_timestamp_micros(micros)?;
    Some(OrderPosition { created_at, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_tampering_and_other_tenants() {
        let pos = OrderPosition {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: 42,
        };
        let c = encode(b"k", 1, pos);
        assert_eq!(decode(b"k", 1, &c), Some(pos));
        assert_eq!(decode(b"k", 2, &c), None);
        assert_eq!(decode(b"other", 1, &c), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&c).unwrap();
        bytes[15] ^= 1;
        assert_eq!(decode(b"k", 1, &URL_SAFE_NO_PAD.encode(bytes)), None);
        assert_eq!(decode(b"k", 1, "garbage!"), None);
        assert_eq!(decode(b"k", 1, ""), None);
    }
}
