//! Test support for the whole workspace, one module per concern, shared by the kit's
//! unit tests (`kit/`), the API tests (`tests/api/`) and the fault suite
//! (`tests/faults/`):
//!
//! - [`wait`]: the poller (a deadline and a short back-off; no fixed sleeps);
//! - [`template`]: scratch databases cloned from a per-process template, and psql;
//! - [`process`]: child processes killed on drop, free ports, signals;
//! - [`brisk`]: `brisk serve` as a process of its own (the caller names the binary);
//! - [`pgbouncer`] and [`redis`]: private PgBouncer and Redis processes to break;
//! - [`nginx`]: nginx in front of test servers, from a configuration template;
//! - [`prometheus`]: reading `/metrics` (an absent series is `None`);
//! - [`raw`]: raw HTTP/1.1 for what a client library hides;
//! - [`browser`]: headless chromium and the DOM it dumps.
//!
//! It depends on neither `brisk-kit` nor `brisk`, so the kit can take it as a
//! dev-dependency without a cycle; what needs the application (migrations, the
//! binary's path) is passed in by the caller.

#![warn(missing_docs)]

pub mod brisk;
pub mod browser;
pub mod nginx;
pub mod pgbouncer;
pub mod process;
pub mod prometheus;
pub mod raw;
pub mod redis;
pub mod template;
pub mod wait;
