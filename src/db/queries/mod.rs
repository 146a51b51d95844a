//! Tenant-scoped queries: every function takes the caller's tenant id and filters on it.

pub mod orders;
pub mod auth;
pub mod dashboard;
pub mod products;
pub mod idempotency;
pub mod order_create;
