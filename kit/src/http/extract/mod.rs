//! Request parsing at the edge: the caller (`auth`), query parameters (`query`),
//! JSON bodies (`body`). An application parses what is its own (the order API's
//! cursors are `src/routes/cursor.rs`).

pub mod auth;
pub mod body;
pub mod query;
