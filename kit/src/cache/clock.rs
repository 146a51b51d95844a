//! The cache's time: epoch milliseconds, read through a [`Clock`] that the cache is
//! built with. Soft expiries are written into entries and read by every process, so
//! they are wall-clock milliseconds (not `Instant`s). The system clock is the only
//! place in the cache that reads `SystemTime`; a [`ManualClock`] stands still until a
//! test moves it, so tests set time instead of waiting for it (like the limiter's
//! clock in `ratelimit::store`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the cache reads the time: the system's wall clock, or a manual one.
#[derive(Debug, Clone, Default)]
pub struct Clock(Source);

#[derive(Debug, Clone, Default)]
enum Source {
    #[default]
    System,
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The system's wall clock (what [`super::Cache::new`] uses).
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match &self.0 {
            Source::System => system_now_ms(),
            Source::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }
}

/// A clock that stands still until [`ManualClock::advance`] moves it; every
/// [`Clock`] taken from it with [`ManualClock::clock`] reads the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A manual clock standing at the current wall time (so the soft expiries it
    /// writes look like any other process's).
    pub fn new() -> Self {
        Self::at(system_now_ms())
    }

    /// A manual clock standing at `epoch_ms`.
    pub fn at(epoch_ms: u64) -> Self {
        Self(Arc::new(AtomicU64::new(epoch_ms)))
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    /// A [`Clock`] reading this manual time (hand it to [`super::Cache::with_clock`]).
    pub fn clock(&self) -> Clock {
        Clock(Source::Manual(Arc::clone(&self.0)))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

fn system_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let manual = ManualClock::at(1_000);
        let clock = manual.clock();
        assert_eq!(clock.now_ms(), 1_000);
        manual.advance(Duration::from_millis(250));
        assert_eq!((clock.now_ms(), manual.clock().now_ms()), (1_250, 1_250));
    }

    #[test]
    fn the_system_clock_reads_wall_time() {
        let before = system_now_ms();
        let now = Clock::system().now_ms();
        assert!(now >= before && now < before + 60_000);
    }
}
