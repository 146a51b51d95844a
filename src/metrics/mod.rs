//! Measurement: counters and histograms that the other subsystems feed, rendered at
//! `/metrics`. Cache and limiter code records outcomes here through `Metrics`, a
//! cheap clone shared by every worker.

pub mod events;

pub use events::{CacheEvent, LimiterEvent, Metrics};
