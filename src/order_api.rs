//! The order application wired into the kit: its use cases over the kit's
//! services, its handler set, its `/api/` routes protected by API keys (login
//! excepted), and its OpenAPI document served by the kit (`/openapi.json`, `/docs`).
//! `main` (and the API tests) hand [`mount`] to the kit's start-up.

use crate::app::OrderApp;
use crate::http::docs;
use crate::http::routes::{handlers, openapi, CursorKey};
use crate::startup::{Mount, Services};
use actix_web::web;

/// The routes under this prefix need an API key.
pub const PROTECTED_PREFIX: &str = "/api/";
/// Routes under the prefix that need none.
pub const PUBLIC_ROUTES: [&str; 1] = ["/api/login"];

/// The order API on `services`, its cursors signed with `cursor_key`.
pub fn mount(services: &Services, cursor_key: CursorKey) -> Mount {
    let app = OrderApp::new(services.db.clone(), services.cache.clone());
    let sessions = app.sessions.clone();
    let routes = handlers(app, cursor_key);
    // Operations endpoints of the application: with a kit that serves those apart
    // (`--admin-bind`), they are handed to it instead of joining the routes.
    let documentation = docs::endpoints(openapi::document(PROTECTED_PREFIX, &PUBLIC_ROUTES));
    Mount::new(move |cfg: &mut web::ServiceConfig| {
        routes(cfg);
        documentation(cfg);
    })
    .protect(PROTECTED_PREFIX, &PUBLIC_ROUTES, sessions)
}
