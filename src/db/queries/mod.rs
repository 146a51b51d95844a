//! Tenant-scoped queries: every function takes the caller's tenant id and filters on it.

pub mod auth;
pub mod dashboard;
pub mod idempotency;
pub mod order_create;
pub mod orders;
pub mod products;
