//! Percentile math over HDR histograms: latency in microseconds, statements as counts.
//! Quantiles are read with HDR's precision (3 significant digits for latency), which is
//! far finer than any bucket a Prometheus histogram would use.

use hdrhistogram::Histogram;

/// Highest latency recorded exactly (60 s); slower requests saturate at it.
pub const LATENCY_MAX_MICROS: u64 = 60_000_000;
/// Highest statement count recorded exactly; more saturate at it.
pub const STATEMENTS_MAX: u64 = 100_000;

/// The quantiles brisk reports everywhere (Prometheus summary, dashboard, bench).
pub const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

/// An empty latency histogram (microseconds, 1 µs .. 60 s, 3 significant digits).
pub fn latency_histogram() -> Histogram<u64> {
    // Bounds are constants that HDR accepts; a failure here is a programming error
    // caught by the unit tests, never an I/O condition.
    Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, 3).expect("valid latency bounds")
}

/// An empty statements-per-request histogram (0 .. 100,000, 2 significant digits).
pub fn statements_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, STATEMENTS_MAX, 2).expect("valid statement bounds")
}

/// p50, p95 and p99 of `h` in its own unit; zeros when empty.
pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        p50: h.value_at_quantile(0.5),
        p95: h.value_at_quantile(0.95),
        p99: h.value_at_quantile(0.99),
    }
}

/// Three quantiles of one histogram, in the histogram's unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
}

impl Percentiles {
    /// As milliseconds, for latency histograms recorded in microseconds.
    pub fn micros_as_ms(self) -> [f64; 3] {
        [
            self.p50 as f64 / 1000.0,
            self.p95 as f64 / 1000.0,
            self.p99 as f64 / 1000.0,
        ]
    }
}

/// Cumulative counts of `h` at each upper bound (`le`), in the histogram's unit:
/// the Prometheus `_bucket` series, without the `+Inf` bucket (that is `h.len()`).
pub fn cumulative_buckets(h: &Histogram<u64>, bounds: &[u64]) -> Vec<u64> {
    let mut counts = vec![0u64; bounds.len()];
    for v in h.iter_recorded() {
        // An HDR bucket holds values within its precision (0.1 % for latency); its
        // lowest equivalent value decides, so a value recorded exactly at a bound
        // counts in that bound's bucket.
        let value = h.lowest_equivalent(v.value_iterated_to());
        let n = v.count_since_last_iteration();
        if let Some(first) = bounds.iter().position(|&b| value <= b) {
            counts[first] += n;
        }
    }
    let mut running = 0;
    for c in counts.iter_mut() {
        running += *c;
        *c = running;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_latency_distribution_are_within_hdr_precision() {
        let mut h = latency_histogram();
        // 1 ms .. 1000 ms, one sample each.
        for ms in 1..=1000u64 {
            h.record(ms * 1000).unwrap();
        }
        let p = percentiles(&h);
        let close =
            |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 0.001 + 1.0;
        assert!(close(p.p50, 500_000), "p50 {}", p.p50);
        assert!(close(p.p95, 950_000), "p95 {}", p.p95);
        assert!(close(p.p99, 990_000), "p99 {}", p.p99);
        assert_eq!(p.micros_as_ms().map(|v| v.round() as u64), [500, 950, 990]);
    }

    #[test]
    fn a_single_slow_outlier_moves_p99_but_not_p50() {
        let mut h = latency_histogram();
        for _ in 0..99 {
            h.record(2_000).unwrap();
        }
        h.record(900_000).unwrap();
        let p = percentiles(&h);
        assert!((1_998..=2_002).contains(&p.p50), "p50 {}", p.p50);
        assert!(
            (1_998..=2_002).contains(&p.p99),
            "p99 is the 99th of 100 samples: {}",
            p.p99
        );
        h.record(900_000).unwrap();
        let p = percentiles(&h);
        assert!(p.p99 >= 899_000, "two outliers in 101 reach p99: {}", p.p99);
    }

    #[test]
    fn an_empty_histogram_reports_zero_percentiles() {
        assert_eq!(percentiles(&latency_histogram()), Percentiles::default());
    }

    #[test]
    fn values_beyond_the_range_saturate_instead_of_failing() {
        let mut h = latency_histogram();
        h.saturating_record(LATENCY_MAX_MICROS * 10);
        assert_eq!(h.len(), 1);
        assert!(h.max() >= LATENCY_MAX_MICROS);
    }

    #[test]
    fn cumulative_buckets_count_values_at_or_below_each_bound() {
        let mut h = statements_histogram();
        for v in [0, 1, 1, 2, 3, 7, 50] {
            h.record(v).unwrap();
        }
        assert_eq!(
            cumulative_buckets(&h, &[0, 1, 2, 5, 10, 20]),
            vec![1, 3, 4, 5, 6, 6]
        );
        assert_eq!(h.len(), 7);
    }
}
