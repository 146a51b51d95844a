//! The data layer: schema, pool, queries, migrations and seed.

pub mod budget;
pub mod instrument;
pub mod migrate;
pub mod models;
pub mod pool;
pub mod queries;
pub mod schema;
pub mod seed;
