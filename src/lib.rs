//! brisk: a multi-worker application server for read-heavy business APIs.

pub mod app;
pub mod cache;
pub mod caller;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod metrics;
pub mod ratelimit;
pub mod redis;
pub mod startup;
pub mod state;
pub mod supervise;
pub mod warm;

#[cfg(test)]
pub(crate) mod test_support;
