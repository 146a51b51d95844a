//! The kit's data layer: the pool of diesel-async connections (through PgBouncer),
//! its errors, the statement counter, direct connections for one-off work, and the
//! start-up connection-budget check. No schema and no query of any application.

pub mod budget;
pub mod config;
pub mod direct;
pub mod error;
pub mod instrument;
pub mod pool;

pub use config::DbConfig;
pub use error::{DbError, DbResult};
