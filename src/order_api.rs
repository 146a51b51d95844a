//! The order application wired into the kit: its use cases over the kit's
//! services, its handler set, its `/api/` routes protected by API keys (login
//! excepted), and its OpenAPI document served by the kit (`/openapi.json`, `/docs`).
//! `main` (and the API tests) hand [`mount`] to the kit's start-up.

use crate::app::OrderApp;
use crate::http::docs;
use crate::http::routes::{handlers, openapi, CursorKey};
use crate::startup::{Mount, Services, Store};

/// The routes under this prefix need an API key.
pub const PROTECTED_PREFIX: &str = "/api/";
/// Routes under the prefix that need none.
pub const PUBLIC_ROUTES: [&str; 1] = ["/api/login"];

/// The order API on `services`, its cursors signed with `cursor_key`.
pub fn mount(services: &Services, cursor_key: CursorKey) -> Mount {
    let app = OrderApp::new(services.db.clone(), services.cache.clone());
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
    Mount::new(handlers(app, cursor_key))
        .operations(documentation)
        .protect(PROTECTED_PREFIX, &PUBLIC_ROUTES, sessions)
}
