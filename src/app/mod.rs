//! Tenant-scoped use cases and domain types; knows nothing of actix.

pub mod auth;
pub mod domain;
pub mod orders;
pub mod views;
