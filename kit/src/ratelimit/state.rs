//! The state of one limit whatever its strategy (a log, buckets or a GCRA TAT): the memory store's value, and what
//! the parity tests run beside the Redis script.

use super::counter::Buckets;
use super::gcra::Gcra;
use super::limits::{Rate, Strategy};
use super::window::{Log, Status, Window};

/// The state of one limit of any strategy (the memory store's value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// `moving-window`.
    Log(Log),
    /// `sliding-window-counter` and `fixed-window`.
    Buckets(Buckets),
    /// `gcra`.
    Gcra(Gcra),
}

impl State {
    /// An empty state of `rate`'s strategy.
    pub fn for_rate(rate: Rate) -> Self {
        match rate.strategy {
            Strategy::MovingWindow => State::Log(Log::new()),
            Strategy::SlidingWindowCounter | Strategy::FixedWindow => {
                State::Buckets(Buckets::new())
            }
            Strategy::Gcra => State::Gcra(Gcra::new()),
        }
    }

    fn inner(&self) -> &dyn Window {
        match self {
            State::Log(l) => l,
            State::Buckets(b) => b,
            State::Gcra(g) => g,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn Window {
        match self {
            State::Log(l) => l,
            State::Buckets(b) => b,
            State::Gcra(g) => g,
        }
    }
}

impl Window for State {
    fn prune_at(&mut self, now: u64, rate: Rate) {
        self.inner_mut().prune_at(now, rate)
    }
    fn status(&self, now: u64, rate: Rate, cost: u64) -> Status {
        self.inner().status(now, rate, cost)
    }
    fn charge_at(&mut self, now: u64, rate: Rate, cost: u64) {
        self.inner_mut().charge_at(now, rate, cost)
    }
    fn refund_at(&mut self, stamp: u64, now: u64, rate: Rate) {
        self.inner_mut().refund_at(stamp, now, rate)
    }
    fn is_idle(&self) -> bool {
        self.inner().is_idle()
    }
    fn expiry(&self, rate: Rate) -> u64 {
        self.inner().expiry(rate)
    }
}
