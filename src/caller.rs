//! Who is calling: resolved from the API key by the auth middleware and stored in
//! the request's extensions for the limiter and the handlers.

use crate::domain::Plan;

/// The authenticated caller of an `/api/*` route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthContext {
    pub tenant_id: i64,
    pub plan: Plan,
    /// The `api_keys` row that authenticated the request.
    pub key_id: i64,
}
