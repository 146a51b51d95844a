//! The order application wired into the kit: its use cases over the kit's
//! services, its handler set, its `/api/` routes protected by API keys (login
//! excepted), and its OpenAPI document served by the kit (`/openapi.json`, `/docs`).
//! `main` (and the API tests) hand [`mount`] to the kit's start-up.

use crate::app::{export, OrderApp};
use crate::routes::{handlers, openapi, prefetch, CursorKey};
use brisk_kit::http::docs;
use brisk_kit::startup::{Mount, Services, Store};

/// The routes under this prefix need an API key.
pub const PROTECTED_PREFIX: &str = "/api/";
/// Routes under the prefix that need none.
pub const PUBLIC_ROUTES: [&str; 1] = ["/api/login"];

/// The order API's own settings (`config` builds them from the flags).
#[derive(Clone)]
pub struct OrderApiConfig {
    /// Signs the order lists' keyset cursors (the same in every process).
    pub cursor_key: CursorKey,
    /// Exports running at once in this process; more → 429.
    pub max_concurrent_exports: usize,
}

impl OrderApiConfig {
    /// Cursors signed with `cursor_key`, every other setting at its default.
    pub fn new(cursor_key: CursorKey) -> Self {
        Self {
            cursor_key,
            max_concurrent_exports: export::DEFAULT_MAX_CONCURRENT,
        }
    }
}

/// The order API on `services`.
pub fn mount(services: &Services, config: OrderApiConfig) -> Mount {
    let app = OrderApp::new(
        services.db.clone(),
        services.cache.clone(),
        config.max_concurrent_exports,
    );
    let sessions = match services.store {
        Store::Redis => app
            .sessions
            .clone()
            .with_shared_memo(services.redis.clone()),
        Store::Memory => app.sessions.clone(),
    };
    // `/openapi.json` and `/docs` are operations endpoints: on the operations
    // listener with `--admin-bind`, else on the API listener.
    let documentation = docs::endpoints(openapi::document(PROTECTED_PREFIX, &PUBLIC_ROUTES));
    let mount = Mount::new(handlers(app, config.cursor_key));
    prefetch::declare(mount, &services.cache)
        .operations(documentation)
        .protect(PROTECTED_PREFIX, &PUBLIC_ROUTES, sessions)
}
