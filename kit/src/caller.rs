//! Who is calling: the kit's view of an authenticated request. The application resolves
//! it (from an API key, a token, ...) and stores it in the request's extensions; the
//! limiter and the handlers read it there.

use serde::Serialize;
use std::fmt;

/// A plan's name as the application declared it at start-up (`"basic"`, `"team"`), with
/// the limits the limiter keeps for it (see `ratelimit::RateLimitConfig::plans`).
///
/// `&'static str` keeps the caller `Copy`: plans are a fixed list the application
/// declares, not free text read per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PlanName(pub &'static str);

impl PlanName {
    /// The plan's name.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for PlanName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The authenticated caller of an `/v1/*` route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthContext {
    /// The tenant the credentials belong to.
    pub tenant_id: i64,
    /// The tenant's plan: selects its plan limit.
    pub plan: PlanName,
    /// The `api_keys` row that authenticated the request.
    pub key_id: i64,
    /// The user behind the request, when the credentials name one (API keys do not).
    pub user_id: Option<i64>,
}
