//! The bucketed strategies, pure over (state, now): counts per sub-window.
//!
//! A bucketed limit splits time into sub-windows of `width` ms (sub-window `i` holds the
//! admissions stamped in `[i·width, (i+1)·width)`) and, at `now`, counts every
//! sub-window from `oldest(now) = floor((now − lookback) / width)` to the current one,
//! **whole**. [`Shape::of`] gives the two strategies:
//!
//! - `sliding-window-counter` (the default): `width = ceil(period / 64)`,
//!   `lookback = period − 1`. The counted sub-windows cover `(now − period, now]` (the
//!   log's window) plus at most `width − 1` ms before it, so an admission is counted at
//!   least as long as an exact log counts it: **never more than `count` in any span of
//!   one period**, and it is released at most `width − 1` ms (< 1/64 of the period)
//!   later than the log releases it. At most 65 sub-windows are ever counted, so the
//!   state is at most 65 counters whatever the count.
//! - `fixed-window`: `width = period`, `lookback = 0`: only the current calendar window
//!   counts. At most `count` per window, up to `2·count` across a window boundary.
//!
//! `Retry-After` is when enough of the oldest counted sub-windows have left the window:
//! sub-window `i` stops counting at `(i + 1)·width + lookback`. The Redis script
//! (`super::script`) transcribes this module.

use super::limits::{Rate, Strategy};
use super::window::{Status, Window};
use std::collections::VecDeque;

/// Sub-windows per period of a `sliding-window-counter` limit.
pub const SUB_WINDOWS: u64 = 64;

/// The sub-window geometry of a bucketed limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Sub-window length (ms, at least 1).
    pub width: u64,
    /// How far back from `now` the oldest counted sub-window reaches (ms).
    pub lookback: u64,
}

impl Shape {
    /// The geometry of `rate`, `None` for a `moving-window` (a log) or `gcra` limit.
    pub fn of(rate: Rate) -> Option<Shape> {
        let period = rate.period_ms().max(1);
        match rate.strategy {
            Strategy::MovingWindow | Strategy::Gcra => None,
            Strategy::SlidingWindowCounter => Some(Shape {
                width: period.div_ceil(SUB_WINDOWS),
                lookback: period - 1,
            }),
            Strategy::FixedWindow => Some(Shape {
                width: period,
                lookback: 0,
            }),
        }
    }

    /// The index of the sub-window holding time `t`.
    pub fn index(&self, t: u64) -> u64 {
        t / self.width
    }

    /// The oldest sub-window still counted at `now`.
    pub fn oldest(&self, now: u64) -> u64 {
        self.index(now.saturating_sub(self.lookback))
    }

    /// When sub-window `index` stops counting.
    pub fn leaves_at(&self, index: u64) -> u64 {
        (index + 1) * self.width + self.lookback
    }

    /// A key's time to live after a charge: its newest sub-window stops counting by then
    /// (`period + width` for the sliding counter).
    pub fn ttl_ms(&self) -> u64 {
        self.width + self.lookback + 1
    }
}

fn shape(rate: Rate) -> Shape {
    // A `State` picks `Buckets` only for bucketed strategies; should a log's rate reach
    // here, count it as a sliding counter rather than panic.
    Shape::of(rate).unwrap_or_else(|| {
        Shape::of(rate.with_strategy(Strategy::SlidingWindowCounter)).expect("bucketed")
    })
}

/// Admission counts per sub-window (index, count), ascending (a refund may leave one at
/// zero).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Buckets {
    counts: VecDeque<(u64, u64)>,
}

impl Buckets {
    /// No admission held.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sub-windows held (the Redis hash's `HLEN`).
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// True when no sub-window is held.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Admissions held, over every sub-window.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

impl Window for Buckets {
    fn prune_at(&mut self, now: u64, rate: Rate) {
        let oldest = shape(rate).oldest(now);
        while self.counts.front().is_some_and(|&(i, _)| i < oldest) {
            self.counts.pop_front();
        }
    }

    fn status(&self, now: u64, rate: Rate, cost: u64) -> Status {
        let shape = shape(rate);
        let total = self.total();
        let reset_after_ms = self
            .counts
            .front()
            .map_or(0, |&(i, _)| shape.leaves_at(i).saturating_sub(now));
        let retry_after_ms = if total + cost <= rate.count {
            None
        } else if cost > rate.count {
            // Never admissible; say "one window" rather than "never".
            Some(rate.period_ms())
        } else {
            // The oldest sub-windows leave first; wait for the one that frees enough.
            let need = total + cost - rate.count;
            let mut freed = 0;
            let index = self.counts.iter().find_map(|&(i, n)| {
                freed += n;
                (freed >= need).then_some(i)
            });
            index.map(|i| shape.leaves_at(i).saturating_sub(now).max(1))
        };
        Status {
            remaining: rate.count.saturating_sub(total),
            reset_after_ms,
            retry_after_ms,
        }
    }

    fn charge_at(&mut self, now: u64, rate: Rate, cost: u64) {
        let index = shape(rate).index(now);
        match self.counts.back_mut() {
            // A clock that stepped back charges the newest sub-window: counted longer.
            Some((last, n)) if *last >= index => *n += cost,
            _ => self.counts.push_back((index, cost)),
        }
    }

    fn refund_at(&mut self, stamp: u64, _now: u64, rate: Rate) {
        let index = shape(rate).index(stamp);
        // The sub-window stays, at zero, until it stops counting (as in Redis).
        if let Some((_, n)) = self.counts.iter_mut().find(|(i, _)| *i == index) {
            *n = n.saturating_sub(1);
        }
    }

    fn is_idle(&self) -> bool {
        self.is_empty()
    }

    fn expiry(&self, rate: Rate) -> u64 {
        self.counts
            .back()
            .map_or(0, |&(i, _)| shape(rate).leaves_at(i))
    }
}

#[cfg(test)]
#[path = "counter_tests.rs"]
mod tests;
