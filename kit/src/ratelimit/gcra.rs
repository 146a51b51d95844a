//! GCRA (`gcra` in a limit string), pure over (state, now): opt-in, never the default.
//!
//! "N per P" is the generic cell rate algorithm with emission interval `T = P/N` and a
//! burst of `N`: the state is one theoretical arrival time (TAT) per key. A request of
//! `cost` at `now` is admitted iff `max(TAT, now) + cost·T ≤ now + P`, and then
//! `TAT = max(TAT, now) + cost·T`. Arithmetic is exact in integers: the TAT is held in
//! units of `1/N` ms (so `T` is `P` units), which is why a `gcra` limit needs
//! `N · P_ms ≤ 2^52` ([`super::limits::MAX_UNITS`]; "10000000 per day gcra" fits).
//!
//! **What it promises** (times in whole ms, as the store's clock gives them): for any
//! admitted requests `i ≤ j` at `t_i ≤ t_j`, the units admitted from `i` to `j`
//! together are at most `N + ⌊(t_j − t_i)·N / P⌋` (the TAT after `j` is at least
//! `t_i` plus that many `T`s, and at most `t_j + P`). Hence in any span of `L` ms at
//! most `N + ⌊(L − 1)·N / P⌋`, and in a span of one period at most
//! **`2N − ⌈N / P_ms⌉`** (`2N − 1` whenever `N ≤ P_ms`), *whatever the state at the
//! start of the span, an empty one included*: a full burst of `N`, then one every `T`.
//! So GCRA does **not** keep API.md's "at most N in any span of one period"; it keeps
//! the long-run rate (`N` per `P` plus one burst) with O(1) state and no edges.
//!
//! A refund (a reservation that turned out not to count) takes one `T` back when that
//! is exact: when no admission since the charge found the bucket nearly empty (less
//! than one `T` of backlog); otherwise it takes nothing back (never credits more than
//! the admissions that still count allow, at worst counts the refunded one). The state
//! keeps the time of the last such admission (`mark`) to know; a refund sets it to
//! its own time, since later admissions were judged against the higher TAT.
//!
//! The Redis script (`super::script`) transcribes this module; the parity test holds
//! it to it.

use super::limits::Rate;
use super::window::{Status, Window};

/// One key's GCRA state: the TAT in `1/count` ms and the time (ms) of the last
/// admission that found less than one emission interval of backlog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gcra {
    /// Theoretical arrival time × count (0: empty).
    tat: u128,
    /// The last admission that found the bucket nearly empty, or the last refund.
    mark: u64,
}

impl Gcra {
    /// An empty state (a full burst available).
    pub fn new() -> Self {
        Self::default()
    }

    /// The backlog at `now` in `1/count` ms: how far the TAT is ahead of `now`.
    pub fn backlog(&self, now: u64, rate: Rate) -> u64 {
        let ahead = self
            .tat
            .saturating_sub(u128::from(now) * u128::from(rate.count));
        u64::try_from(ahead).unwrap_or(u64::MAX)
    }
}

/// The status of a state whose backlog is `backlog` units, for `cost` more: the one
/// formula the script transcribes.
pub fn status_of(backlog: u64, rate: Rate, cost: u64) -> Status {
    let (n, p) = (rate.count.max(1), rate.period_ms().max(1));
    // Saturating: a rate built in code may skip the parser's MAX_UNITS check.
    let (full, need) = (n.saturating_mul(p), cost.saturating_mul(p));
    let retry_after_ms = if backlog.saturating_add(need) <= full {
        None
    } else if cost > n {
        // Never admissible; say "one window" rather than "never".
        Some(p)
    } else {
        // The backlog drains `n` units per ms.
        Some((backlog + need - full).div_ceil(n).max(1))
    };
    Status {
        remaining: n.saturating_sub(backlog.div_ceil(p)),
        // When the bucket is empty again (the full burst available).
        reset_after_ms: backlog.div_ceil(n),
        retry_after_ms,
    }
}

impl Window for Gcra {
    fn prune_at(&mut self, _now: u64, _rate: Rate) {
        // A TAT in the past already counts as `now`: nothing to forget.
    }

    fn status(&self, now: u64, rate: Rate, cost: u64) -> Status {
        status_of(self.backlog(now, rate), rate, cost)
    }

    fn charge_at(&mut self, now: u64, rate: Rate, cost: u64) {
        let backlog = self.backlog(now, rate);
        let p = rate.period_ms().max(1);
        if backlog < p {
            self.mark = self.mark.max(now);
        }
        let start = u128::from(now) * u128::from(rate.count) + u128::from(backlog);
        self.tat = start + u128::from(cost) * u128::from(p);
    }

    fn refund_at(&mut self, stamp: u64, now: u64, rate: Rate) {
        if self.tat == 0 || self.mark > stamp {
            return;
        }
        self.tat = self.tat.saturating_sub(u128::from(rate.period_ms().max(1)));
        self.mark = now.max(stamp);
    }

    fn is_idle(&self) -> bool {
        self.tat == 0
    }

    fn expiry(&self, rate: Rate) -> u64 {
        let ms = self.tat.div_ceil(u128::from(rate.count.max(1)));
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
#[path = "gcra_tests.rs"]
mod tests;
