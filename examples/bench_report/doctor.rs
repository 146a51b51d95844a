//! `brisk doctor`'s cost figures held against the bench's own measurement of the same
//! run: CPU per request (the doctor: `process_cpu_seconds_total` over its window's
//! requests; the bench: /proc/PID/stat over wrk's requests) and database time per
//! request (the doctor: `pg_stat_statements` over its window, and the time its server
//! waited on SQL; the bench: `pg_stat_statements` before and after the whole run).

use crate::runs::{Doctor, Results};
use std::fmt::Write as _;

/// Issue 18: the cost figures agree within this share.
const AGREEMENT: f64 = 0.20;

/// The figures of the doctor's "scale out after lightening" row.
#[derive(Debug, Default, PartialEq)]
pub struct DoctorCost {
    pub cpu_ms: Option<f64>,
    pub pg_ms: Option<f64>,
    pub waited_ms: Option<f64>,
    /// The route's own DB time per request (the busiest routes' list), and the route.
    pub route: Option<(String, f64)>,
}

/// The number ending right before `marker` in `text`.
fn number_before(text: &str, marker: &str) -> Option<f64> {
    let head = &text[..text.find(marker)?];
    let start = head
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |i| i + 1);
    head[start..].parse().ok()
}

/// The number starting right after `marker` in `text`.
fn number_after(text: &str, marker: &str) -> Option<f64> {
    let tail = &text[text.find(marker)? + marker.len()..];
    let end = tail
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(tail.len());
    tail[..end].parse().ok()
}

/// Reads the cost row's evidence; `path` picks the route (e.g. `/api/orders`).
pub fn parse_cost(evidence: &str, path: &str) -> DoctorCost {
    let route = evidence
        .split("; ")
        .filter_map(|part| {
            let (route, rest) = part.split_once(": DB ")?;
            let ms = number_after(rest, "")?;
            Some((route.to_string(), ms))
        })
        .find(|(route, _)| route.ends_with(path));
    DoctorCost {
        cpu_ms: number_before(evidence, " CPU-ms per request"),
        pg_ms: number_before(evidence, " ms by PostgreSQL's clock"),
        waited_ms: number_before(evidence, " ms waited by the server"),
        route,
    }
}

/// The evidence of the doctor's cost row in its `--json` output.
fn cost_evidence(d: &Doctor) -> Result<String, String> {
    let text = std::fs::read_to_string(&d.doctor_json).map_err(|e| format!("{e}"))?;
    let rows: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{e}"))?;
    rows.as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["row"] == "scale out after lightening")
        })
        .and_then(|r| r["evidence"].as_str().map(str::to_string))
        .ok_or_else(|| "no cost row".into())
}

/// "x (+y %)": the doctor's figure and its difference from the bench's.
fn against(doctor: Option<f64>, bench: Option<f64>) -> (String, String) {
    match (doctor, bench) {
        // Below a hundredth of a millisecond a share says nothing (a cached route).
        (Some(d), Some(b)) if b < 0.01 && d < 0.01 => {
            (format!("{d:.3}"), "– (both under 0.01 ms)".into())
        }
        (Some(d), Some(b)) if b > 0.0 => {
            let diff = (d / b - 1.0) * 100.0;
            let mark = if diff.abs() <= AGREEMENT * 100.0 {
                "✔"
            } else {
                "✘"
            };
            (format!("{d:.3}"), format!("{diff:+.1} % {mark}"))
        }
        (Some(d), _) => (format!("{d:.3}"), "–".into()),
        (None, _) => ("?".into(), "–".into()),
    }
}

/// The section: one row per workload the doctor watched.
pub fn doctor(md: &mut String, res: &Results) {
    if res.doctor.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## `brisk doctor`'s cost figures against the bench's (same runs)\n"
    );
    let _ = writeln!(md, "During one wrk run per workload (make run's configuration), `brisk doctor --window N --no-probes --json` priced the requests of an N-second window inside the run from the server's `/metrics` (`process_cpu_seconds_total`, the per-route SQL time) and `pg_stat_statements`. The bench measured the whole run its own way: the server's CPU from /proc/PID/stat over wrk's requests, and PostgreSQL's execution time of the bench's database from `pg_stat_statements` read before and after the run (a difference; no reset, the PostgreSQL is shared) over wrk's requests. Issue 18 wants agreement within {:.0} % (✔/✘).\n", AGREEMENT * 100.0);
    let _ = writeln!(md, "| workload | window s | bench CPU ms/req | doctor CPU-ms/req | difference | bench PG ms/req | doctor PG ms/req | difference | doctor DB ms/req waited by the server (route) |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for d in &res.doctor {
        let run = res.find("doctor", &d.name);
        let path = run
            .and_then(|r| r.label.split_whitespace().nth(1))
            .map(|p| {
                p.split(['?', '{'])
                    .next()
                    .unwrap_or(p)
                    .trim_end_matches('/')
            })
            .unwrap_or("");
        let bench_cpu = run
            .and_then(|r| r.cpu_us_per_request())
            .map(|us| us / 1000.0);
        let bench_pg = run
            .filter(|r| r.requests > 0)
            .map(|r| d.pg_exec_ms / r.requests as f64);
        let cost = match cost_evidence(d) {
            Ok(evidence) => parse_cost(&evidence, path),
            Err(e) => {
                let _ = writeln!(
                    md,
                    "| {} | {} | – | doctor's output unreadable ({e}: {}) | | | | | |",
                    d.name, d.window_s, d.doctor_json
                );
                continue;
            }
        };
        let (doc_cpu, cpu_diff) = against(cost.cpu_ms, bench_cpu);
        let (doc_pg, pg_diff) = against(cost.pg_ms, bench_pg);
        let waited = cost.waited_ms.map_or("?".into(), |w| format!("{w:.3}"));
        let route = cost
            .route
            .map_or(String::new(), |(r, ms)| format!(" ({r}: {ms:.2})"));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {doc_cpu} | {cpu_diff} | {} | {doc_pg} | {pg_diff} | {waited}{route} |",
            d.name,
            d.window_s,
            bench_cpu.map_or("–".into(), |c| format!("{c:.3}")),
            bench_pg.map_or("–".into(), |p| format!("{p:.3}")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cost_rows_figures_are_read_from_its_evidence() {
        let evidence = "0.412 CPU-ms per request; DB 0.120 ms by PostgreSQL's clock (pg_stat_statements), 0.900 ms waited by the server; over the 16 s window (1200 requests/s): about 2427 requests/s per core; GET /api/orders: DB 0.90 ms, Redis 0.05 ms, 31.2 KB per request; GET /health: DB 0.00 ms, Redis 0.00 ms, 0.0 KB per request";
        let cost = parse_cost(evidence, "/api/orders");
        assert_eq!(
            cost,
            DoctorCost {
                cpu_ms: Some(0.412),
                pg_ms: Some(0.120),
                waited_ms: Some(0.900),
                route: Some(("GET /api/orders".into(), 0.90)),
            }
        );
    }

    #[test]
    fn a_difference_over_a_fifth_is_marked_failed() {
        assert_eq!(against(Some(1.1), Some(1.0)).1, "+10.0 % ✔");
        assert_eq!(against(Some(0.7), Some(1.0)).1, "-30.0 % ✘");
        assert_eq!(against(Some(0.0), Some(0.002)).1, "– (both under 0.01 ms)");
    }
}
