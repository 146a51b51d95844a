//! Compressed variants of cached bodies, made once per (ETag, encoding) and kept
//! in-process. A cached catalog is ~84 KB of JSON: compressing it on every
//! response (the `Compress` middleware's way) cut its throughput from ~19k to
//! ~2k req/s; with the variant kept, a gzip or brotli client costs the same as
//! an identity one. The ETag names the bytes, so a variant can never be stale.

use actix_web::http::header::{self, HeaderValue};
use actix_web::HttpRequest;
use bytes::Bytes;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, RwLock};

/// Bodies smaller than this are left to the `Compress` middleware.
pub const MIN_BYTES: usize = 1024;
/// Memory the variants may take before the oldest generation is dropped.
pub const DEFAULT_CAPACITY_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        })
    }

    fn compress(self, body: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Encoding::Brotli => {
                let mut out = Vec::with_capacity(body.len() / 4);
                {
                    // Quality 6: most of brotli's gain at a fraction of q11's time; paid once per ETag.
                    let mut w = brotli::CompressorWriter::new(&mut out, 16 * 1024, 6, 22);
                    w.write_all(body)?;
                }
                Ok(out)
            }
            Encoding::Gzip => {
                let mut w = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 4),
                    flate2::Compression::default(),
                );
                w.write_all(body)?;
                w.finish()
            }
        }
    }
}

/// The encoding to answer with: brotli, then gzip, unless refused with `q=0`.
pub fn negotiate(req: &HttpRequest) -> Option<Encoding> {
    let mut br = false;
    let mut gzip = false;
    for value in req.headers().get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(',') {
            let mut fields = part.split(';');
            let name = fields.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = fields.any(|f| {
                let f = f.trim();
                f.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            match name.as_str() {
                "br" => br = true,
                "gzip" | "x-gzip" => gzip = true,
                _ => {}
            }
        }
    }
    if br {
        Some(Encoding::Brotli)
    } else if gzip {
        Some(Encoding::Gzip)
    } else {
        None
    }
}

#[derive(Default)]
struct Store {
    map: HashMap<(Arc<str>, Encoding), Bytes>,
    bytes: usize,
}

/// Process-wide, shared by every worker; clone freely.
#[derive(Clone)]
pub struct Precompressed {
    store: Arc<RwLock<Store>>,
    capacity: usize,
    enabled: bool,
}

impl Default for Precompressed {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY_BYTES)
    }
}

impl Precompressed {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            store: Arc::new(RwLock::new(Store::default())),
            capacity,
            enabled: true,
        }
    }

    /// Compression turned off (`ServerConfig::compression`): no variant is ever made,
    /// and the app built with it has no compression layer either.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::with_capacity(0)
        }
    }

    /// False when compression is turned off.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The `encoding` variant of `body`, whose ETag is `etag`.
    pub fn get_or_compress(
        &self,
        etag: &Arc<str>,
        encoding: Encoding,
        body: &[u8],
    ) -> Option<Bytes> {
        if !self.enabled {
            return None;
        }
        let key = (Arc::clone(etag), encoding);
        if let Some(hit) = self.store.read().ok()?.map.get(&key) {
            return Some(hit.clone());
        }
        // Compressed outside the lock; two workers racing on a new ETag both
        // compress once, which is cheaper than making every reader wait.
        let compressed = Bytes::from(encoding.compress(body).ok()?);
        let mut store = self.store.write().ok()?;
        if store.bytes + compressed.len() > self.capacity {
            store.map.clear();
            store.bytes = 0;
        }
        store.bytes += compressed.len();
        store.map.insert(key, compressed.clone());
        Some(compressed)
    }

    pub fn len(&self) -> usize {
        self.store.read().map(|s| s.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use std::io::Read;

    #[test]
    fn negotiation_prefers_brotli_and_honours_q_zero() {
        let neg = |v: &str| {
            negotiate(
                &TestRequest::default()
                    .insert_header(("accept-encoding", v))
                    .to_http_request(),
            )
        };
        assert_eq!(neg("gzip, deflate, br"), Some(Encoding::Brotli));
        assert_eq!(neg("gzip"), Some(Encoding::Gzip));
        assert_eq!(neg("br;q=0, gzip;q=0.5"), Some(Encoding::Gzip));
        assert_eq!(neg("identity"), None);
        assert_eq!(negotiate(&TestRequest::default().to_http_request()), None);
    }

    #[test]
    fn variants_decompress_to_the_body_and_are_made_once_per_etag() {
        let variants = Precompressed::default();
        let body = br#"{"products":[1,2,3]}"#.repeat(200);
        let etag: Arc<str> = Arc::from("\"abc\"");
        let gz = variants
            .get_or_compress(&etag, Encoding::Gzip, &body)
            .unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        let br = variants
            .get_or_compress(&etag, Encoding::Brotli, &body)
            .unwrap();
        let mut out = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        // Same ETag: the stored bytes are returned (not recomputed from `body`).
        let again = variants
            .get_or_compress(&etag, Encoding::Gzip, b"ignored")
            .unwrap();
        assert_eq!(again, gz);
        assert_eq!(variants.len(), 2);
    }

    #[test]
    fn the_store_is_bounded() {
        let variants = Precompressed::with_capacity(64);
        for i in 0..100 {
            let etag: Arc<str> = Arc::from(format!("\"{i}\"").as_str());
            variants.get_or_compress(&etag, Encoding::Gzip, b"some body to squeeze");
        }
        assert!(variants.len() < 100);
    }
}
