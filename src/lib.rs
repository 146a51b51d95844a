//! brisk: a multi-worker application server for read-heavy business APIs.
//!
//! Two faces: the kit ([`kit`], a small documented surface over `startup`, the
//! `http` middleware, `cache`, `ratelimit`, `warm`, `metrics`, the `db` pool and
//! `redis`), and the order application built on it (`domain`, `app`,
//! `http::routes`, `db::queries`). docs/ARCHITECTURE.md has the layers.

pub mod app;
pub mod authenticate;
pub mod cache;
pub mod caller;
pub mod config;
pub mod db;
pub mod domain;
pub mod drain;
pub mod failure;
pub mod http;
pub mod kit;
pub mod metrics;
pub mod order_api;
pub mod ratelimit;
pub mod redis;
pub mod route;
pub mod services;
pub mod startup;
pub mod supervise;
pub mod warm;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
