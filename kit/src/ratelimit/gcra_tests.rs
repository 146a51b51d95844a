use super::*;
use crate::ratelimit::limits::Strategy;
use crate::ratelimit::window::decide;
use std::time::Duration;

fn rate(count: u64, ms: u64) -> Rate {
    Rate::new(count, Duration::from_millis(ms)).with_strategy(Strategy::Gcra)
}

fn hit(g: &mut Gcra, r: Rate, now: u64, cost: u64) -> (bool, Status) {
    let (ok, s) = decide(&mut [g], &[r], now, cost, 0);
    (ok, s[0])
}

/// Hammers `r` from an empty state: at every ms of `periods` periods, requests of
/// `cost` until one is refused. Returns the admissions (time, cost).
fn hammer(r: Rate, periods: u64, cost: u64) -> Vec<(u64, u64)> {
    let (mut g, mut admitted) = (Gcra::new(), Vec::new());
    let start = 1_700_000_000_007;
    for now in start..start + periods * r.period_ms() {
        while hit(&mut g, r, now, cost).0 {
            admitted.push((now, cost));
        }
    }
    admitted
}

/// The most units admitted inside any span of `span` ms.
fn worst_span(admitted: &[(u64, u64)], span: u64) -> u64 {
    (0..admitted.len())
        .map(|i| {
            let t = admitted[i].0;
            admitted[i..]
                .iter()
                .take_while(|&&(u, _)| u < t + span)
                .map(|&(_, c)| c)
                .sum()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn a_burst_of_the_count_passes_then_one_request_per_emission_interval() {
    let r = rate(10, 1_000); // T = 100 ms
    let mut g = Gcra::new();
    for i in 0..10 {
        let (ok, s) = hit(&mut g, r, 5_000, 1);
        assert!(ok);
        assert_eq!(s.remaining, 9 - i);
        assert_eq!(s.reset_after_ms, 100 * (i + 1), "until the bucket is empty");
    }
    let (ok, s) = hit(&mut g, r, 5_000, 1);
    assert!(!ok);
    assert_eq!((s.remaining, s.retry_after_ms), (0, Some(100)));
    assert!(!hit(&mut g, r, 5_099, 1).0);
    let (ok, s) = hit(&mut g, r, 5_100, 1);
    assert!(ok, "one interval later, one more");
    assert_eq!((s.remaining, s.reset_after_ms), (0, 1_000));
    assert_eq!(hit(&mut g, r, 5_150, 1).1.retry_after_ms, Some(50));
    // Idle for a period: the whole burst again.
    assert_eq!(hit(&mut g, r, 6_100, 1).1.remaining, 9);
}

#[test]
fn the_worst_span_of_one_period_is_exactly_twice_the_count_less_its_rate_per_ms() {
    // (count, period): N ≤ P gives 2N − 1; N > P (T below a millisecond) 2N − ⌈N/P⌉.
    for (count, period, cost) in [(10, 1_000, 1), (3, 130, 1), (7, 7, 1), (1_000, 600, 1)] {
        let r = rate(count, period);
        let admitted = hammer(r, 4, cost);
        let bound = 2 * count - count.div_ceil(period);
        assert_eq!(
            worst_span(&admitted, period),
            bound,
            "{count} per {period} ms"
        );
        // The long-run rate is the count per period, plus one burst.
        let total: u64 = admitted.iter().map(|&(_, c)| c).sum();
        assert_eq!(total, count + (4 * period - 1) * count / period);
    }
}

#[test]
fn any_two_admissions_are_at_most_the_count_plus_the_intervals_between_them() {
    // The general bound, over every pair, with costs and a client that pauses.
    let r = rate(6, 90); // T = 15 ms
    let mut g = Gcra::new();
    let mut admitted: Vec<(u64, u64)> = Vec::new();
    let mut now = 1_000;
    for i in 0..3_000u64 {
        let cost = 1 + i % 3;
        if hit(&mut g, r, now, cost).0 {
            admitted.push((now, cost));
        }
        now += [1, 0, 7, 3, 40][(i % 5) as usize];
    }
    let mut units = Vec::with_capacity(admitted.len() + 1);
    units.push(0);
    for &(_, c) in &admitted {
        units.push(units.last().unwrap() + c);
    }
    for i in 0..admitted.len() {
        for j in i..admitted.len() {
            let between = units[j + 1] - units[i];
            let bound = 6 + (admitted[j].0 - admitted[i].0) * 6 / 90;
            assert!(between <= bound, "{between} units from {i} to {j}");
        }
    }
    assert!(units.last().unwrap() > &600, "not stingy");
}

#[test]
fn a_cost_needs_that_many_intervals_and_one_above_the_count_is_never_admissible() {
    let r = rate(5, 1_000); // T = 200 ms
    let mut g = Gcra::new();
    assert!(hit(&mut g, r, 0, 3).0);
    let (ok, s) = hit(&mut g, r, 0, 3);
    assert!(!ok);
    assert_eq!(
        s.retry_after_ms,
        Some(200),
        "one interval frees the third unit"
    );
    assert!(hit(&mut g, r, 200, 3).0);
    assert_eq!(hit(&mut g, r, 200, 6).1.retry_after_ms, Some(1_000));
}

#[test]
fn a_clock_that_steps_back_is_judged_against_the_tat() {
    let r = rate(2, 1_000); // T = 500 ms
    let mut g = Gcra::new();
    assert!(hit(&mut g, r, 5_000, 1).0);
    // 200 ms back, the TAT (5,500) is 700 ms ahead: counted longer, never less.
    let (ok, s) = hit(&mut g, r, 4_800, 1);
    assert!(!ok);
    assert_eq!(s.retry_after_ms, Some(200));
    assert!(hit(&mut g, r, 5_000, 1).0, "the second of the burst");
    assert!(!hit(&mut g, r, 5_000, 1).0);
}

#[test]
fn a_refund_gives_one_interval_back_unless_an_admission_found_the_bucket_nearly_empty() {
    let r = rate(10, 1_000);
    let mut g = Gcra::new();
    for _ in 0..10 {
        assert!(hit(&mut g, r, 0, 1).0);
    }
    g.refund_at(0, 5, r);
    assert!(
        hit(&mut g, r, 5, 1).0,
        "the refunded unit is admissible again"
    );
    assert!(!hit(&mut g, r, 5, 1).0);
    // Idle: the charge at 2,000 finds it empty, so does the one at 2,050 (backlog 50
    // of 100 ms); refunding the first would credit what the second already had.
    let mut g = Gcra::new();
    assert!(hit(&mut g, r, 2_000, 1).0);
    assert!(hit(&mut g, r, 2_050, 1).0);
    let before = g.clone();
    g.refund_at(2_000, 2_060, r);
    assert_eq!(g, before, "nothing given back");
    g.refund_at(2_050, 2_060, r);
    assert!(
        g.backlog(2_060, r) < before.backlog(2_060, r),
        "the newest is exact"
    );
}

#[test]
fn charges_and_refunds_in_any_order_never_leave_a_tat_below_the_admissions_that_count() {
    // Against a replay of the admissions not refunded, from empty: the refunded state
    // must never be more permissive (its TAT never earlier).
    let r = rate(4, 100); // T = 25 ms
    let mut seed = 0x2545_f491_u64;
    let mut next = move |m: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % m
    };
    for _ in 0..300 {
        let (mut g, mut kept): (Gcra, Vec<(u64, bool)>) = (Gcra::new(), Vec::new());
        let mut now = 10_000;
        for _ in 0..40 {
            now += next(30);
            if next(3) == 0 && !kept.is_empty() {
                let i = next(kept.len() as u64) as usize;
                if kept[i].1 {
                    g.refund_at(kept[i].0, now, r);
                    kept[i].1 = false;
                }
            } else if hit(&mut g, r, now, 1).0 {
                kept.push((now, true));
            }
            let mut replay = Gcra::new();
            for &(t, _) in kept.iter().filter(|(_, live)| *live) {
                replay.charge_at(t, r, 1);
            }
            assert!(
                g.backlog(now, r) >= replay.backlog(now, r),
                "over-credited at {now}: {kept:?}"
            );
        }
    }
}

#[test]
fn a_state_expires_when_its_tat_has_passed() {
    let r = rate(1_000, 600); // T = 0.6 ms: the TAT has a fraction of a millisecond
    let mut g = Gcra::new();
    assert!(g.is_idle());
    assert!(hit(&mut g, r, 1_000, 1).0);
    assert_eq!(g.expiry(r), 1_001, "1,000.6 rounded up");
    assert_eq!(g.status(1_000, r, 0).reset_after_ms, 1);
}
