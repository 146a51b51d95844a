//! The order API of API.md, served on [`brisk_kit`]: the domain rules (`domain`),
//! the use cases (`app`), the handlers (`routes`), the SQL and the migrations (`db`),
//! the command line (`config`) and the composition root that hands all of it to the
//! kit (`order_api`). docs/ARCHITECTURE.md has the layers.

pub mod app;
pub mod config;
pub mod db;
pub mod doctor;
pub mod domain;
pub mod order_api;
pub mod policy;
pub mod routes;
