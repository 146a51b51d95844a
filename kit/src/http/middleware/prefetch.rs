//! The cache reads routes declared when they were mounted (`Mount::prefetch`), which
//! the guard starts beside the limiter's decision so a cached hit costs one Redis
//! round trip (`crate::cache::prefetch` says why that is safe).

use crate::cache::prefetch::{CacheRead, Prefetch};
use crate::cache::Cache;
use crate::caller::AuthContext;
use crate::route::route_pattern;
use actix_web::dev::ServiceRequest;
use actix_web::HttpMessage;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

/// Builds a route's cache read from what the guard knows before the handler runs.
pub type PrefetchFn = Arc<dyn Fn(&PrefetchRequest<'_>) -> Option<CacheRead> + Send + Sync>;

/// What a route's declared read may depend on: the caller, the query string and the
/// path's parameters.
pub struct PrefetchRequest<'a> {
    /// The authenticated caller (absent on a public route).
    pub auth: Option<&'a AuthContext>,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// The path as the router matched it.
    path: &'a str,
    /// The pattern's segments (`{id}` for a parameter).
    pattern: &'a [Segment],
}

impl PrefetchRequest<'_> {
    /// A path parameter of the route's pattern (`id` in `/items/{id}`): the path's
    /// segment in the parameter's place, as the router matched it.
    pub fn param(&self, name: &str) -> Option<&str> {
        let at = self.pattern.iter().position(|s| match s {
            Segment::Param(p) => p == name,
            Segment::Literal => false,
        })?;
        self.path.split('/').nth(at)
    }
}

/// One `/`-separated segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Text matched as it is.
    Literal,
    /// A whole-segment parameter, by name.
    Param(String),
}

/// A pattern's segments, or `None` for a pattern whose parameters are not whole
/// segments (`{name}.txt`, a custom regex, a tail): those routes cannot declare a read.
/// Split by hand rather than with actix's `ResourceDef`, whose regex capture cost
/// ~50,000 instructions per request (callgrind), a fifth of a cached summary's.
fn segments(pattern: &str) -> Option<Vec<Segment>> {
    pattern
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if !name.is_empty() && !name.contains([':', '{', '}', '*']) => {
                    Some(Segment::Param(name.to_string()))
                }
                Some(_) => None,
                None if seg.contains(['{', '}']) => None,
                None => Some(Segment::Literal),
            },
        )
        .collect()
}

/// Every declared read, by route pattern, and the cache that makes them.
#[derive(Clone)]
pub struct RoutePrefetches {
    cache: Cache,
    routes: Arc<HashMap<String, (Vec<Segment>, PrefetchFn)>>,
}

impl RoutePrefetches {
    /// The reads `declared` (pattern, read) made on `cache`; an error names a pattern
    /// whose parameters are not whole segments.
    pub fn new(cache: Cache, declared: &[(String, PrefetchFn)]) -> Result<Self, String> {
        let mut routes = HashMap::new();
        for (pattern, read) in declared {
            let Some(segments) = segments(pattern) else {
                return Err(format!(
                    "prefetch {pattern}: only whole-segment parameters ({{id}}) are supported"
                ));
            };
            routes.insert(pattern.clone(), (segments, Arc::clone(read)));
        }
        Ok(Self {
            cache,
            routes: Arc::new(routes),
        })
    }

    /// The read the request's route declared, started (not yet awaited); `None` when
    /// it declared none or cannot key this request.
    pub(crate) fn start(&self, req: &ServiceRequest) -> Option<impl Future<Output = Prefetch>> {
        if self.routes.is_empty() {
            return None;
        }
        let pattern = route_pattern(req)?;
        let (segments, read_of) = self.routes.get(&*pattern)?;
        let extensions = req.extensions();
        let what = read_of(&PrefetchRequest {
            auth: extensions.get::<AuthContext>(),
            query: req.query_string(),
            path: req.match_info().as_str(),
            pattern: segments,
        })?;
        let cache = self.cache.clone();
        Some(async move { cache.prefetch(what).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(pattern: &[Segment], path: &str, name: &str) -> Option<String> {
        let req = PrefetchRequest {
            auth: None,
            query: "",
            path,
            pattern,
        };
        req.param(name).map(str::to_string)
    }

    #[test]
    fn whole_segment_parameters_are_read_from_the_matched_path() {
        let pattern = segments("/api/products/{id}/summary").unwrap();
        assert_eq!(
            param(&pattern, "/api/products/42/summary", "id").as_deref(),
            Some("42")
        );
        assert_eq!(param(&pattern, "/api/products/42/summary", "sku"), None);
        let two = segments("/t/{tenant}/items/{item}").unwrap();
        assert_eq!(
            param(&two, "/t/7/items/x-1", "item").as_deref(),
            Some("x-1")
        );
        assert_eq!(
            param(&two, "/t/7/items/x-1", "tenant").as_deref(),
            Some("7")
        );
    }

    #[test]
    fn patterns_with_partial_regex_or_tail_parameters_are_refused() {
        for pattern in ["/files/{name}.txt", "/n/{id:\\d+}", "/s/{tail}*", "/e/{}"] {
            assert_eq!(segments(pattern), None, "{pattern}");
        }
        assert!(segments("/api/catalog").is_some());
    }
}
