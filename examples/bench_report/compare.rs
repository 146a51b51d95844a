//! `compare.md` of a `make bench-compare` run: per workload, each build's median req/s
//! over the alternated rounds, the ratio of the medians, and each build's spread across
//! its rounds ((max − min) / median), the machine's noise for that workload.

use crate::report::machine;
use crate::runs::{self, Run};
use std::fmt::Write as _;
use std::path::Path;

/// Writes `compare.md` for the results file (variants `before` and `after`) into `out`.
pub fn compare(results: &Path, out: &Path, before: &str, after: &str) -> Result<(), String> {
    let runs = runs::read(results)?.runs;
    let mut names: Vec<&str> = Vec::new();
    for r in &runs {
        if !names.contains(&r.name.as_str()) {
            names.push(&r.name);
        }
    }
    let rounds = runs.iter().map(|r| r.round).max().unwrap_or(0);
    let mut md = String::new();
    let _ = writeln!(md, "# brisk: `{after}` against `{before}`\n");
    let _ = writeln!(md, "{}\n", machine());
    let _ = writeln!(md, "wrk, 2 threads, 64 connections, {} s per run after a warm-up; {rounds} rounds, each build started afresh per round and run over every workload, the order of the builds flipped every round. Medians over the rounds; spread = (max − min) / median of one build's rounds. Server CPU per request: brisk's user + system time during the run (from /proc) over the requests answered, median of the rounds; it moves less with the machine's other load than req/s does.\n",
        runs.first().map_or(0.0, |r| r.duration_s.round()));
    let _ = writeln!(md, "| workload | `{before}` req/s (rounds) | `{after}` req/s (rounds) | after / before | spread before | spread after | p99 ms before → after | server CPU µs/request before → after | verdict |");
    let _ = writeln!(md, "|---|---|---|---:|---:|---:|---|---|---|");
    for name in names {
        let side = |variant: &str| -> Vec<&Run> {
            runs.iter()
                .filter(|r| r.name == name && r.variant == variant)
                .collect()
        };
        let (b, a) = (side("before"), side("after"));
        if b.is_empty() || a.is_empty() {
            continue;
        }
        let (rb, ra) = (rps(&b), rps(&a));
        let ratio = median(&ra) / median(&rb);
        let noise = spread(&rb).max(spread(&ra));
        let failed: u64 = b.iter().chain(&a).map(|r| r.errors + r.non_2xx_3xx).sum();
        let verdict = if failed > 0 {
            "not comparable: failed requests"
        } else if rb.len() < 2 || ra.len() < 2 {
            "one round: no noise estimate"
        } else if (ratio - 1.0).abs() <= noise {
            "within noise"
        } else if ratio > 1.0 {
            "faster"
        } else {
            "slower"
        };
        let p99 = |rs: &[&Run]| median(&rs.iter().map(|r| r.p99_ms).collect::<Vec<_>>());
        let cpu = |rs: &[&Run]| {
            let each: Vec<f64> = rs.iter().filter_map(|r| r.cpu_us_per_request()).collect();
            if each.is_empty() {
                "–".to_string()
            } else {
                format!("{:.1}", median(&each))
            }
        };
        let verdict = match failed {
            0 => verdict.to_string(),
            n => format!("{verdict} ({n})"),
        };
        let _ = writeln!(
            md,
            "| {name} | {:.0} ({}) | {:.0} ({}) | {:.3} | {:.1} % | {:.1} % | {:.2} → {:.2} | {} → {} | {verdict} |",
            median(&rb),
            list(&rb),
            median(&ra),
            list(&ra),
            ratio,
            spread(&rb) * 100.0,
            spread(&ra) * 100.0,
            p99(&b),
            p99(&a),
            cpu(&b),
            cpu(&a),
        );
    }
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    std::fs::write(out.join("compare.md"), md).map_err(|e| e.to_string())?;
    Ok(())
}

fn rps(runs: &[&Run]) -> Vec<f64> {
    runs.iter().map(|r| r.rps).collect()
}

fn list(values: &[f64]) -> String {
    let each: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
    each.join(", ")
}

/// The median (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// (max − min) / median: 0 for a single round.
fn spread(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    (max - min) / median(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
    }

    #[test]
    fn the_spread_is_the_range_over_the_median() {
        assert!((spread(&[90.0, 100.0, 110.0]) - 0.2).abs() < 1e-9);
        assert_eq!(spread(&[100.0]), 0.0);
    }
}
