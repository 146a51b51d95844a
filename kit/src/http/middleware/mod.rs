//! The middleware of the request path, registered in one place (`register`).

pub mod auth;
pub mod body_watch;
pub mod deadline;
pub mod encoding;
pub mod errors;
pub mod head;
pub mod queries;
pub mod rate_limit;
pub mod redis_budget;
