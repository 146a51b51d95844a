//! Tenant-scoped use cases; knows nothing of actix.

pub mod views;
