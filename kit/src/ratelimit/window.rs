//! The limiting algorithms, pure over (state, now), behind one [`Window`] trait so
//! [`decide`] checks and charges several limits of any strategy together. This module
//! holds the exact sliding-window log (`moving-window`); [`super::counter`] holds the
//! bucketed strategies (`sliding-window-counter`, the default, and `fixed-window`);
//! [`super::gcra`] holds `gcra`; [`super::state::State`] is any of them, as a rate's
//! strategy says.
//!
//! The log:
//! For each (limit, identity) the state is the ascending list of the times (ms) at which
//! requests were admitted within the last `period`. A request of `cost` is admitted iff
//! `len + cost <= count` after dropping admissions older than `period`; so **at most
//! `count` requests pass in any span of `period`**, wherever the span starts: no
//! fixed-window double burst at window edges, and no GCRA-style refill either.
//!
//! Why the default is not GCRA (it is offered opt-in, `gcra`): GCRA with a burst of `count` (the only shape that lets "5 per minute"
//! pass 5 requests at once) admits `2·count − 1` requests in the worst span of one
//! `period` (the burst, then one per `period/count`; exactly
//! `2·count − ⌈count/period_ms⌉` with a clock in ms, see [`super::gcra`]), so it cannot meet "at most the
//! limit in any window-length span" that API.md asks for. The log costs one entry per
//! admitted request inside the window (bounded by `count`, see
//! [`super::limits::MAX_COUNT`]), each operation is O(1) amortized (each entry is
//! appended once and dropped once), but Redis time and memory per key grow with the
//! count: hence the counter by default.
//!
//! Several limits are checked together by [`decide`]: every state is evaluated first
//! and all are charged only when all admit (all or none). The Redis script
//! (`super::script`) transcribes this module and [`super::counter`]; the memory store
//! calls them directly.

use super::limits::Rate;
use std::collections::VecDeque;

/// One limit's state, whatever its strategy: what [`decide`] works on.
pub trait Window {
    /// Forgets what no longer counts at `now`.
    fn prune_at(&mut self, now: u64, rate: Rate);
    /// The status of a request of `cost` at `now`, charging nothing (pruned first).
    fn status(&self, now: u64, rate: Rate, cost: u64) -> Status;
    /// Records `cost` admissions at `now`.
    fn charge_at(&mut self, now: u64, rate: Rate, cost: u64);
    /// Takes back one admission charged at `stamp`, at `now` (never below zero).
    fn refund_at(&mut self, stamp: u64, now: u64, rate: Rate);
    /// True when nothing is held.
    fn is_idle(&self) -> bool;
    /// The time after which nothing held still counts.
    fn expiry(&self, rate: Rate) -> u64;
}

impl Window for Log {
    fn prune_at(&mut self, now: u64, rate: Rate) {
        self.prune(now, rate.period_ms());
    }
    fn status(&self, now: u64, rate: Rate, cost: u64) -> Status {
        evaluate(self, now, rate, cost)
    }
    fn charge_at(&mut self, now: u64, _rate: Rate, cost: u64) {
        charge(self, now, cost);
    }
    fn refund_at(&mut self, stamp: u64, _now: u64, _rate: Rate) {
        self.refund(stamp);
    }
    fn is_idle(&self) -> bool {
        self.is_empty()
    }
    fn expiry(&self, rate: Rate) -> u64 {
        self.expires_at(rate.period_ms())
    }
}

/// Admission times (ms, ascending) of one (limit, identity) within its window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Log {
    entries: VecDeque<u64>,
}

impl Log {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Admissions currently held (after the last prune).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no admission is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The time after which this log holds nothing that `period` still counts.
    pub fn expires_at(&self, period_ms: u64) -> u64 {
        self.entries.back().map_or(0, |last| last + period_ms)
    }

    /// Takes back the newest admission stamped `at` (a refunded reservation); a log
    /// without one is left as it is.
    pub fn refund(&mut self, at: u64) {
        if let Some(i) = self.entries.iter().rposition(|&t| t == at) {
            self.entries.remove(i);
        }
    }

    /// Drops admissions that are no longer inside `(now - period, now]`.
    pub fn prune(&mut self, now: u64, period_ms: u64) {
        // Before the first full period nothing can have left the window.
        let Some(cutoff) = now.checked_sub(period_ms) else {
            return;
        };
        let expired = self.entries.partition_point(|&t| t <= cutoff);
        self.entries.drain(..expired);
    }
}

/// What one limit says about one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// Requests still admissible in the current window after this decision.
    pub remaining: u64,
    /// Milliseconds until the oldest counted admission leaves the window (0 when empty).
    pub reset_after_ms: u64,
    /// When this limit refuses the request: milliseconds until it would admit it.
    pub retry_after_ms: Option<u64>,
}

/// Evaluates one pruned log without charging it.
pub fn evaluate(log: &Log, now: u64, rate: Rate, cost: u64) -> Status {
    let period = rate.period_ms();
    let len = log.len() as u64;
    let reset_after_ms = log
        .entries
        .front()
        .map_or(0, |&t| (t + period).saturating_sub(now));
    let retry_after_ms = if len + cost <= rate.count {
        None
    } else if cost > rate.count {
        // Never admissible; say "one window" rather than "never".
        Some(period)
    } else {
        // `len + cost - count` admissions must leave; the last of them is at this index.
        let idx = (len + cost - rate.count - 1) as usize;
        Some((log.entries[idx] + period).saturating_sub(now).max(1))
    };
    Status {
        remaining: rate.count.saturating_sub(len),
        reset_after_ms,
        retry_after_ms,
    }
}

/// Records `cost` admissions at `now` (kept ascending if the clock stepped back).
pub fn charge(log: &mut Log, now: u64, cost: u64) {
    let at = log.entries.back().map_or(now, |&last| last.max(now));
    for _ in 0..cost {
        log.entries.push_back(at);
    }
}

/// Checks every limit of a request and charges all of them or none.
/// Returns whether the request is admitted and each limit's status after the decision.
/// The first `guards` states are checked but never charged: limits the request must be
/// under without counting against them (the failed-authentication limit of its address).
pub fn decide<W: Window>(
    states: &mut [&mut W],
    rates: &[Rate],
    now: u64,
    cost: u64,
    guards: usize,
) -> (bool, Vec<Status>) {
    let (allowed, mut statuses) = peek(states, rates, now, cost);
    if allowed {
        let charged = states.iter_mut().zip(rates).zip(statuses.iter_mut());
        for ((state, rate), status) in charged.skip(guards) {
            state.charge_at(now, *rate, cost);
            let after = state.status(now, *rate, 0);
            status.remaining = after.remaining;
            status.reset_after_ms = after.reset_after_ms;
        }
    }
    (allowed, statuses)
}

/// What [`decide`] would answer, without charging anything (the states are pruned).
pub fn peek<W: Window>(
    states: &mut [&mut W],
    rates: &[Rate],
    now: u64,
    cost: u64,
) -> (bool, Vec<Status>) {
    debug_assert_eq!(states.len(), rates.len());
    for (state, rate) in states.iter_mut().zip(rates) {
        state.prune_at(now, *rate);
    }
    let statuses: Vec<Status> = states
        .iter()
        .zip(rates)
        .map(|(state, rate)| state.status(now, *rate, cost))
        .collect();
    let allowed = statuses.iter().all(|s| s.retry_after_ms.is_none());
    (allowed, statuses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rate(count: u64, secs: u64) -> Rate {
        Rate::new(count, Duration::from_secs(secs))
    }

    /// A fake clock: every test drives `now` itself.
    struct Bucket {
        log: Log,
        rate: Rate,
    }

    impl Bucket {
        fn new(rate: Rate) -> Self {
            Self {
                log: Log::new(),
                rate,
            }
        }
        fn hit(&mut self, now: u64) -> (bool, Status) {
            let (ok, s) = decide(&mut [&mut self.log], &[self.rate], now, 1, 0);
            (ok, s[0])
        }
    }

    #[test]
    fn a_burst_up_to_the_limit_passes_and_the_next_request_waits_for_the_oldest() {
        let mut b = Bucket::new(rate(5, 60));
        for i in 0..5 {
            let (ok, s) = b.hit(1_000 + i * 10);
            assert!(ok);
            assert_eq!(s.remaining, 4 - i);
            assert_eq!(s.reset_after_ms, 60_000 - i * 10);
        }
        let (ok, s) = b.hit(2_000);
        assert!(!ok);
        assert_eq!(s.remaining, 0);
        // The first admission (t=1000) leaves the window at 61000.
        assert_eq!(s.retry_after_ms, Some(59_000));
        assert!(!b.hit(60_999).0);
        assert!(b.hit(61_000).0);
    }

    #[test]
    fn no_window_edge_double_burst_at_most_the_limit_in_any_window_length_span() {
        // A client hammering every 7 ms for ten windows, across every "edge".
        let r = rate(10, 1);
        let mut b = Bucket::new(r);
        let mut admitted = Vec::new();
        let mut now = 123;
        while now < 10_000 {
            if b.hit(now).0 {
                admitted.push(now);
            }
            now += 7;
        }
        // Sliding check over every admitted start: the span [t, t + period) holds <= count.
        for (i, &t) in admitted.iter().enumerate() {
            let in_span = admitted[i..].iter().take_while(|&&u| u < t + 1_000).count();
            assert!(in_span <= 10, "{in_span} admitted in the 1 s span from {t}");
        }
        // And the limiter is not stingy: each window-length span is used fully.
        assert!(admitted.len() >= 9 * 10, "only {} admitted", admitted.len());
    }

    #[test]
    fn the_fixed_window_edge_attack_gets_only_the_limit() {
        // Fixed windows admit 10 at 0.999 s and 10 more at 1.001 s; this must not.
        let mut b = Bucket::new(rate(10, 1));
        let before = (0..10).filter(|_| b.hit(999).0).count();
        let after = (0..10).filter(|_| b.hit(1_001).0).count();
        assert_eq!((before, after), (10, 0));
        assert!(!b.hit(1_998).0);
        assert!(b.hit(1_999).0);
    }

    #[test]
    fn a_guard_is_checked_but_never_charged() {
        let (mut guard, mut plan) = (Log::new(), Log::new());
        let rates = [rate(2, 60), rate(100, 60)];
        charge(&mut guard, 0, 1);
        let (ok, s) = decide(&mut [&mut guard, &mut plan], &rates, 10, 1, 1);
        assert!(ok);
        assert_eq!(
            (guard.len(), plan.len()),
            (1, 1),
            "only the plan is charged"
        );
        assert_eq!(s[0].remaining, 1);
        charge(&mut guard, 20, 1);
        let (ok, s) = decide(&mut [&mut guard, &mut plan], &rates, 30, 1, 1);
        assert!(!ok, "a full guard refuses the request");
        assert_eq!(s[0].retry_after_ms, Some(60_000 - 30));
        assert_eq!(plan.len(), 1, "and nothing is charged");
    }

    #[test]
    fn a_request_rejected_by_one_limit_charges_none_of_the_others() {
        let (mut daily, mut hourly) = (Log::new(), Log::new());
        let rates = [rate(200, 86_400), rate(2, 3_600)];
        for t in [0, 10] {
            assert!(decide(&mut [&mut daily, &mut hourly], &rates, t, 1, 0).0);
        }
        let (ok, s) = decide(&mut [&mut daily, &mut hourly], &rates, 20, 1, 0);
        assert!(!ok);
        assert_eq!(
            s[0].remaining, 198,
            "daily unchanged by the rejected request"
        );
        assert_eq!(s[0].retry_after_ms, None);
        assert_eq!(s[1].retry_after_ms, Some(3_600_000 - 20));
        assert_eq!(daily.len(), 2);
    }

    #[test]
    fn cost_above_one_needs_that_many_free_slots() {
        let mut log = Log::new();
        let r = rate(5, 10);
        for t in [0, 1_000, 2_000] {
            assert!(decide(&mut [&mut log], &[r], t, 1, 0).0);
        }
        let (ok, s) = decide(&mut [&mut log], &[r], 3_000, 3, 0);
        assert!(!ok);
        // One admission must leave: the oldest, at 0 + 10 s.
        assert_eq!(s[0].retry_after_ms, Some(7_000));
        let (ok, s) = decide(&mut [&mut log], &[r], 10_000, 3, 0);
        assert!(ok);
        assert_eq!(s[0].remaining, 0);
        let (ok, s) = decide(&mut [&mut log], &[r], 10_000, 6, 0);
        assert!(!ok);
        assert_eq!(
            s[0].retry_after_ms,
            Some(10_000),
            "never admissible: one window"
        );
    }

    #[test]
    fn a_clock_step_back_keeps_the_log_ordered_and_counted() {
        let mut b = Bucket::new(rate(2, 1));
        assert!(b.hit(5_000).0);
        assert!(b.hit(4_000).0); // recorded at 5000
        assert!(!b.hit(4_500).0);
        assert!(b.hit(6_000).0);
    }

    #[test]
    fn a_peek_charges_nothing_and_a_refund_takes_back_one_admission() {
        let mut log = Log::new();
        let r = rate(2, 60);
        assert!(peek(&mut [&mut log], &[r], 0, 1).0);
        assert!(log.is_empty());
        assert!(decide(&mut [&mut log], &[r], 10, 1, 0).0);
        assert!(decide(&mut [&mut log], &[r], 20, 1, 0).0);
        let (ok, s) = peek(&mut [&mut log], &[r], 30, 1);
        assert!(!ok);
        assert_eq!(s[0].retry_after_ms, Some(59_980));
        log.refund(20);
        log.refund(99);
        assert_eq!(log.len(), 1);
        assert!(peek(&mut [&mut log], &[r], 30, 1).0);
    }

    #[test]
    fn pruning_forgets_admissions_older_than_the_period() {
        let mut log = Log::new();
        let r = rate(3, 1);
        for t in [0, 100, 200] {
            decide(&mut [&mut log], &[r], t, 1, 0);
        }
        log.prune(1_150, r.period_ms());
        assert_eq!(log.len(), 1);
        assert_eq!(log.expires_at(r.period_ms()), 1_200);
    }
}
