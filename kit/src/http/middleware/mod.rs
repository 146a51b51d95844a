//! The middleware of the request path, registered in one place: `build_app` in
//! `crate::http` (the order is listed there).

pub mod auth;
pub mod body_watch;
pub mod deadline;
pub mod encoding;
pub mod errors;
pub mod guard;
pub mod head;
pub mod prefetch;
pub mod rate_limit;
