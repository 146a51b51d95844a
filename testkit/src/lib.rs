//! Test support for the whole workspace, one module per concern, shared by the kit's
//! unit tests (`kit/`), the API tests (`tests/api/`) and the fault suite
//! (`tests/faults/`):
//!
//! - [`wait`]: the poller (a deadline and a short back-off; no fixed sleeps).
//!
//! It depends on neither `brisk-kit` nor `brisk`, so the kit can take it as a
//! dev-dependency without a cycle; what needs the application (migrations, the
//! binary's path) is passed in by the caller.

#![warn(missing_docs)]

pub mod wait;
