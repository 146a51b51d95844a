//! API integration tests: one binary, a real server per test.

mod helpers;

mod admin;
mod basics;
mod cache;
mod client_ip;
mod hostile_input;
mod metrics;
mod orders;
mod pgbouncer;
mod pool;
mod products;
mod ratelimit;
mod raw;
mod shutdown;
mod slow_clients;
