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

/// The request's `If-None-Match` values, joined (for the cache, which compares them
/// with the stored ETag without reading the body).
pub fn if_none_match_header(req: &HttpRequest) -> Option<String> {
    let values: Vec<&str> = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// 200 with the cached JSON, or 304 without a body when `If-None-Match` matched; both
/// carry the stored ETag. The cache outcome goes into the response extensions for
/// the access log, and into `X-Cache` (hit, stale, miss, coalesced, error).
pub fn respond_cached(
    cached: crate::cache::CachedBody,
    cache_control: Option<&str>,
) -> HttpResponse {
    let mut resp = match cached.body {
        Some(_) => HttpResponse::Ok(),
        None => HttpResponse::NotModified(),
    };
    resp.insert_header((header::ETAG, cached.etag.as_ref()))
        .insert_header(("x-cache", cached.outcome.as_str()));
    if let Some(cc) = cache_control {
        resp.insert_header((header::CACHE_CONTROL, cc));
    }
    let mut resp = match cached.body {
        Some(body) => resp.content_type("application/json").body(body),
        None => resp.finish(),
    };
    resp.extensions_mut().insert(cached.outcome);
    resp
}
