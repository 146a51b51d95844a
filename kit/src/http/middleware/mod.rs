//! The middleware of the request path, registered in one place: `http::build_app`
//! (`http/mod.rs`) wraps them in their order, outermost first.

pub mod auth;
pub mod deadline;
pub mod errors;
pub mod rate_limit;
pub mod redis_budget;
pub mod statements;
