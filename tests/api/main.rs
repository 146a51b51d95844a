//! API integration tests: one binary, a real server per test.

mod helpers;

mod access_log;
mod admin;
mod basics;
mod cache;
mod catalog;
mod claims;
mod client_ip;
mod docs;
mod doctor;
mod doctor_app;
mod faults;
mod hello_kit;
mod hostile_auth;
mod hostile_input;
mod hostile_pipeline;
mod logs;
mod metrics;
mod orders;
mod pgbouncer;
mod pool;
mod products;
mod ratelimit;
mod shutdown;
mod slow_clients;
mod spellings;
