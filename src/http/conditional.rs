//! HTTP caching helpers: strong ETags and `If-None-Match`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// A strong, quoted ETag for a representation.
pub fn etag_for(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// True when the request's `If-None-Match` names `etag` (or `*`). Weak comparison,
/// as RFC 9110 prescribes for If-None-Match.
pub fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    let want = etag.trim_start_matches("W/");
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == want)
}

/// 200 with the JSON body, or 304 without one; both carry the validators.
pub fn respond_json(
    req: &HttpRequest,
    body: bytes::Bytes,
    etag: &str,
    cache_control: &str,
) -> HttpResponse {
    let not_modified = if_none_match(req, etag);
    let mut resp = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache_control));
    if not_modified {
        resp.finish()
    } else {
        resp.content_type("application/json").body(body)
    }
}
