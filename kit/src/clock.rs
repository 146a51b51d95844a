//! The kit's one clock: epoch milliseconds, read by the cache (soft expiries, which every
//! process reads, so wall-clock time), the limiter's in-process store, the Redis
//! breakers and the invalidation window. The system clock is anchored once at the wall
//! time and then moves with the monotonic clock, so it never goes backwards within a
//! process; a [`ManualClock`] stands still until a test moves it, so tests set time
//! instead of waiting for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where time is read: the system's clock, or a manual one. Clone freely.
#[derive(Debug, Clone)]
pub struct Clock(Source);

#[derive(Debug, Clone)]
enum Source {
    System { base: Instant, base_epoch_ms: u64 },
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The system's clock: wall time at this call, then monotonic.
    pub fn system() -> Self {
        Self(Source::System {
            base: Instant::now(),
            base_epoch_ms: wall_now_ms(),
        })
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match &self.0 {
            Source::System {
                base,
                base_epoch_ms,
            } => base_epoch_ms + base.elapsed().as_millis() as u64,
            Source::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
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
        Self::at(wall_now_ms())
    }

    /// A manual clock standing at `epoch_ms`.
    pub fn at(epoch_ms: u64) -> Self {
        Self(Arc::new(AtomicU64::new(epoch_ms)))
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    /// A [`Clock`] reading this manual time.
    pub fn clock(&self) -> Clock {
        Clock(Source::Manual(Arc::clone(&self.0)))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

fn wall_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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
    fn the_system_clock_reads_wall_time_and_never_goes_back() {
        let before = wall_now_ms();
        let clock = Clock::system();
        let first = clock.now_ms();
        assert!(first >= before && first < before + 60_000);
        assert!(clock.now_ms() >= first);
    }
}
