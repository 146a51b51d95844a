//! HTTP caching helpers: `If-None-Match`, 304, and cached bodies with their
//! precompressed variants.

use crate::http::middleware::guard::UncompressedSize;
use crate::http::precompressed::{negotiate, Precompressed, MIN_BYTES};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

/// The request's `If-None-Match` values, joined (the cache answers a match
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
    req: &HttpRequest,
    variants: &Precompressed,
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
        Some(body) => {
            resp.content_type("application/json")
                .insert_header((header::VARY, "accept-encoding"));
            let variant = match negotiate(req) {
                Some(enc) if body.len() >= MIN_BYTES => variants
                    .get_or_compress(&cached.etag, enc, &body)
                    .map(|b| (enc, b)),
                _ => None,
            };
            match variant {
                // `Compress` leaves a response that already has Content-Encoding alone;
                // the size before compression is told to the metrics here.
                Some((enc, compressed)) => {
                    let mut resp = resp
                        .insert_header((header::CONTENT_ENCODING, enc.header_value()))
                        .body(compressed);
                    let size = UncompressedSize(body.len() as u64);
                    resp.extensions_mut().insert(size);
                    resp
                }
                None => resp.body(body),
            }
        }
        None => resp.finish(),
    };
    resp.extensions_mut().insert(cached.outcome);
    resp
}
