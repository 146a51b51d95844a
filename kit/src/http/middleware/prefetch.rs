//! The cache reads routes declared when they were mounted (`Mount::prefetch`), which
//! the guard starts beside the limiter's decision so a cached hit costs one Redis
//! round trip (`crate::cache::prefetch` says why that is safe).

use crate::cache::prefetch::{CacheRead, Prefetch};
use crate::cache::Cache;
use crate::caller::AuthContext;
use crate::route::route_pattern;
use actix_web::dev::{Path, ResourceDef, ServiceRequest, Url};
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
    params: Path<Url>,
}

impl PrefetchRequest<'_> {
    /// A path parameter of the route's pattern (`id` in `/items/{id}`), decoded as
    /// the router decodes it for the handler's `web::Path`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name)
    }
}

/// Every declared read, by route pattern, and the cache that makes them.
#[derive(Clone)]
pub struct RoutePrefetches {
    cache: Cache,
    routes: Arc<HashMap<String, (ResourceDef, PrefetchFn)>>,
}

impl RoutePrefetches {
    /// The reads `declared` (pattern, read) made on `cache`.
    pub fn new(cache: Cache, declared: &[(String, PrefetchFn)]) -> Self {
        let routes = declared
            .iter()
            .map(|(pattern, f)| {
                let def = ResourceDef::new(pattern.as_str());
                (pattern.clone(), (def, Arc::clone(f)))
            })
            .collect();
        Self {
            cache,
            routes: Arc::new(routes),
        }
    }

    /// The read the request's route declared, started (not yet awaited); `None` when
    /// it declared none or cannot key this request.
    pub(crate) fn start(&self, req: &ServiceRequest) -> Option<impl Future<Output = Prefetch>> {
        if self.routes.is_empty() {
            return None;
        }
        let pattern = route_pattern(req)?;
        let (def, read_of) = self.routes.get(&*pattern)?;
        let mut params = req.match_info().clone();
        if !def.capture_match_info(&mut params) {
            return None;
        }
        let extensions = req.extensions();
        let what = read_of(&PrefetchRequest {
            auth: extensions.get::<AuthContext>(),
            query: req.query_string(),
            params,
        })?;
        let cache = self.cache.clone();
        Some(async move { cache.prefetch(what).await })
    }
}
