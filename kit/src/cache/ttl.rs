//! Time-to-live arithmetic: jitter, soft and hard expiry. Pure functions, so the
//! bounds are unit-tested without a clock.

use std::time::Duration;

/// Longest hard TTL an entry may have. Generation counters live longer than this
/// (see `store`), so a counter that expired can never revive an old entry.
pub const MAX_HARD_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a generation counter lives after its last bump.
pub const GENERATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// `ttl` scaled by a factor in `[1 - fraction, 1 + fraction]`; `unit` is a uniform
/// sample in `[0, 1]` (pass `rand::random()`). Spreads the expiry of entries written
/// together so they do not all miss at once.
pub fn jittered(ttl: Duration, fraction: f64, unit: f64) -> Duration {
    let fraction = fraction.clamp(0.0, 0.9);
    let unit = unit.clamp(0.0, 1.0);
    let factor = 1.0 + fraction * (2.0 * unit - 1.0);
    Duration::from_secs_f64(ttl.as_secs_f64() * factor)
}

/// The hard TTL (Redis `PX`) for a soft TTL: the soft TTL plus the stale window, in
/// which a read is served stale while one refresh runs.
pub fn hard_ttl(soft: Duration, stale_fraction: f64) -> Duration {
    let stale = Duration::from_secs_f64(soft.as_secs_f64() * stale_fraction.max(0.0));
    (soft + stale)
        .max(soft + Duration::from_millis(1))
        .min(MAX_HARD_TTL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        let ttl = Duration::from_secs(60);
        assert_eq!(jittered(ttl, 0.1, 0.0), Duration::from_secs(54));
        assert_eq!(jittered(ttl, 0.1, 1.0), Duration::from_secs(66));
        assert_eq!(jittered(ttl, 0.1, 0.5), ttl);
        for _ in 0..10_000 {
            let t = jittered(ttl, 0.1, rand::random());
            assert!(
                t >= Duration::from_secs(54) && t <= Duration::from_secs(66),
                "{t:?}"
            );
        }
    }

    #[test]
    fn jitter_inputs_out_of_range_are_clamped() {
        let ttl = Duration::from_secs(10);
        assert_eq!(jittered(ttl, 0.1, 7.0), Duration::from_secs(11));
        assert_eq!(jittered(ttl, 0.0, 0.3), ttl);
    }

    #[test]
    fn hard_ttl_is_longer_than_soft() {
        let soft = Duration::from_secs(60);
        assert_eq!(hard_ttl(soft, 1.0), Duration::from_secs(120));
        assert!(hard_ttl(soft, 0.0) > soft);
        assert_eq!(hard_ttl(Duration::from_secs(100_000), 1.0), MAX_HARD_TTL);
    }
}
