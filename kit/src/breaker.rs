//! The kit's one Redis breaker: after a failure, the caller does not try Redis again
//! for a short window and decides without it (the cache computes, the limiter applies
//! its failure policy, the key memo asks the database). A request under an outage then
//! pays one timeout per window, not one per call. The breaker closes by itself when the
//! window ends; the next call is the probe.

use crate::clock::Clock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Open for a fixed window after each failure.
#[derive(Debug)]
pub struct Breaker {
    window: Duration,
    /// Clock ms until which Redis is not tried (0: closed).
    open_until_ms: AtomicU64,
    clock: Clock,
}

impl Breaker {
    /// A closed breaker that stays open for `window` after each failure, timed by `clock`.
    pub fn new(window: Duration, clock: Clock) -> Self {
        Self {
            window,
            open_until_ms: AtomicU64::new(0),
            clock,
        }
    }

    /// True while a recent failure keeps Redis from being tried.
    pub fn is_open(&self) -> bool {
        self.clock.now_ms() < self.open_until_ms.load(Ordering::Relaxed)
    }

    /// Records a failure: open for the window from now. True when the breaker was
    /// closed (the first failure of an outage, worth a log line).
    pub fn trip(&self) -> bool {
        let now = self.clock.now_ms();
        let until = now + self.window.as_millis() as u64;
        self.open_until_ms.fetch_max(until, Ordering::Relaxed) <= now
    }

    /// How long it stays open after a failure.
    pub fn window(&self) -> Duration {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn a_failure_opens_it_for_the_window_and_it_closes_by_itself() {
        let time = ManualClock::at(10_000);
        let breaker = Breaker::new(Duration::from_millis(500), time.clock());
        assert!(!breaker.is_open());
        assert!(breaker.trip(), "the first failure opens it");
        assert!(
            !breaker.trip(),
            "a second failure while open is not a new outage"
        );
        time.advance(Duration::from_millis(499));
        assert!(breaker.is_open());
        time.advance(Duration::from_millis(1));
        assert!(!breaker.is_open());
        assert!(breaker.trip(), "a failure after the window is a new outage");
    }
}
