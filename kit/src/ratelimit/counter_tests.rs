use super::*;
use crate::ratelimit::state::State;
use crate::ratelimit::window::{decide, Log};
use std::time::Duration;

fn rate(count: u64, ms: u64, strategy: Strategy) -> Rate {
    Rate::new(count, Duration::from_millis(ms)).with_strategy(strategy)
}

fn hit<W: Window>(state: &mut W, r: Rate, now: u64, cost: u64) -> (bool, Status) {
    let (ok, s) = decide(&mut [state], &[r], now, cost, 0);
    (ok, s[0])
}

/// The most admissions (with their costs) inside any span of `period` ms.
fn worst_span(admitted: &[(u64, u64)], period: u64) -> u64 {
    admitted
        .iter()
        .enumerate()
        .map(|(i, &(t, _))| {
            admitted[i..]
                .iter()
                .take_while(|&&(u, _)| u < t + period)
                .map(|&(_, c)| c)
                .sum()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn the_sliding_counter_never_admits_more_than_the_limit_in_any_span_of_one_period() {
    // Periods that 64 divides and that it does not; steps that beat with the width.
    for (count, period, step) in [
        (10, 1_000, 7),
        (100, 60_000, 97),
        (3, 130, 1),
        (50, 6_400, 13),
    ] {
        let r = rate(count, period, Strategy::SlidingWindowCounter);
        let (mut counter, mut log) = (Buckets::new(), Log::new());
        let (mut admitted, mut exact) = (Vec::new(), 0u64);
        let mut now = 1_700_000_000_123;
        for i in 0..(20 * period / step) {
            let cost = 1 + i % 3;
            if hit(&mut counter, r, now, cost).0 {
                admitted.push((now, cost));
            }
            if hit(&mut log, r.with_strategy(Strategy::MovingWindow), now, cost).0 {
                exact += cost;
            }
            now += step;
        }
        let worst = worst_span(&admitted, period);
        assert!(
            worst <= count,
            "{worst} admitted within {period} ms (limit {count})"
        );
        let total: u64 = admitted.iter().map(|&(_, c)| c).sum();
        // Conservative by at most 1/64 of a period per period: close to the exact log.
        assert!(
            total * 100 >= exact * 90,
            "counter {total} vs exact {exact}"
        );
    }
}

#[test]
fn a_full_counter_refuses_at_most_one_sub_window_longer_than_the_exact_log() {
    for period in [60_000, 1_000, 86_400_000] {
        let r = rate(5, period, Strategy::SlidingWindowCounter);
        let width = Shape::of(r).unwrap().width;
        assert!(width * 64 >= period && (width - 1) * 64 < period);
        for start in [
            1_000_000 * width,
            1_000_000 * width + width / 2,
            1_000_001 * width - 1,
        ] {
            let mut b = Buckets::new();
            for _ in 0..5 {
                assert!(hit(&mut b, r, start, 1).0);
            }
            let (ok, s) = hit(&mut b, r, start + 1, 1);
            assert!(!ok);
            let retry = s.retry_after_ms.unwrap();
            // The exact log would admit at start + period.
            let early = start + 1 + retry - (start + period);
            assert!(
                early < width && width <= period.div_ceil(64),
                "{retry} from {start}"
            );
            assert!(!hit(&mut b, r, start + retry, 1).0, "refused until then");
            assert!(
                hit(&mut b, r, start + 1 + retry, 1).0,
                "admitted at Retry-After"
            );
        }
    }
}

#[test]
fn the_counter_state_holds_at_most_65_sub_windows_whatever_the_count() {
    let r = rate(1_000_000, 60_000, Strategy::SlidingWindowCounter);
    let mut b = Buckets::new();
    let mut now = 5_000_000;
    for _ in 0..100_000 {
        assert!(hit(&mut b, r, now, 1).0);
        assert!(b.len() <= 65, "{} sub-windows", b.len());
        now += 3;
    }
    assert!(b.len() >= 64, "every sub-window of the period is in use");
    assert!(b.total() <= 60_000 / 3 + 1_000);
}

#[test]
fn a_refund_takes_back_one_admission_from_its_own_sub_window_and_never_below_zero() {
    let r = rate(3, 64_000, Strategy::SlidingWindowCounter);
    let mut b = Buckets::new();
    assert!(hit(&mut b, r, 10_000, 1).0);
    assert!(hit(&mut b, r, 20_000, 2).0);
    assert!(!hit(&mut b, r, 20_001, 1).0);
    b.refund_at(10_500, 40_000, r); // 10,500 is in 10,000's sub-window (1 s wide)
    assert_eq!(b.total(), 2);
    b.refund_at(10_000, 40_000, r);
    b.refund_at(30_000, 40_000, r); // nothing was charged there
    assert_eq!(b.total(), 2, "never below zero, never another sub-window");
    let (ok, s) = hit(&mut b, r, 20_002, 1);
    assert!(ok);
    assert_eq!(s.remaining, 0);
}

#[test]
fn fixed_windows_admit_the_limit_per_window_and_up_to_twice_it_across_a_boundary() {
    let r = rate(10, 1_000, Strategy::FixedWindow);
    let mut b = Buckets::new();
    let before = (0..15).filter(|_| hit(&mut b, r, 5_999, 1).0).count();
    let after = (0..15).filter(|_| hit(&mut b, r, 6_001, 1).0).count();
    assert_eq!((before, after), (10, 10), "2·count within 2 ms");
    let (ok, s) = hit(&mut b, r, 6_500, 1);
    assert!(!ok);
    assert_eq!(
        s.retry_after_ms,
        Some(500),
        "the next window starts at 7000"
    );
    assert!(hit(&mut b, r, 7_000, 1).0);
    assert_eq!(b.len(), 1, "one counter");
}

#[test]
fn a_state_follows_its_rates_strategy() {
    let per_minute = Rate::new(5, Duration::from_secs(60));
    assert!(matches!(State::for_rate(per_minute), State::Buckets(_)));
    let log = per_minute.with_strategy(Strategy::MovingWindow);
    assert!(matches!(State::for_rate(log), State::Log(_)));
    assert_eq!(Shape::of(log), None);
}
