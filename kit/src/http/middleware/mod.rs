//! The middleware of the request path, registered in one place: `build_app` in
//! `crate::http` (the order is listed there).

pub mod auth;
pub mod deadline;
pub mod errors;
pub mod guard;
pub mod rate_limit;
