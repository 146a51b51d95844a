//! The data layer: schema, pool, queries, migrations and seed.

pub mod schema;
