//! Request parsing at the edge: authentication, query parameters, cursors, bodies.

pub mod auth;
pub mod body;
pub mod query;
