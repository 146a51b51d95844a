//! API integration tests: one binary, a real server per test.

mod helpers;

mod basics;
mod cache;
mod docs;
mod metrics;
mod orders;
mod pgbouncer;
mod pool;
mod products;
mod ratelimit;
mod shutdown;
