//! The data layer: schema, pool, queries, migrations and seed. Queries return rows or
//! a [`DbError`]; nothing here knows about HTTP, the application or the command line
//! (each part takes its own config type: [`DbConfig`], [`budget::BudgetConfig`],
//! [`seed::SeedConfig`]).

pub mod budget;
pub mod config;
pub mod error;
pub mod instrument;
pub mod migrate;
pub mod models;
pub mod pool;
pub mod queries;
pub mod schema;
pub mod seed;

pub use config::DbConfig;
pub use error::{DbError, DbResult};
