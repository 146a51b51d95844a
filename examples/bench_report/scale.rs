//! The report's sections on how brisk grows: the same workloads at scale 5 against
//! scale 1 (the scale part), and p99 under an open-loop load below saturation (the
//! openloop part).

use crate::runs::{Openloop, Results, Run};
use std::fmt::Write as _;

/// Issue 17's targets: scale-5 req/s over scale-1 req/s (W1: bytes/s).
const SCALE_TARGETS: [(&str, f64); 5] = [
    ("W1", 1.0),
    ("W3", 0.85),
    ("W4", 0.85),
    ("W5", 0.85),
    ("W6", 0.85),
];

fn scale_target(name: &str) -> Option<f64> {
    SCALE_TARGETS.iter().find(|t| t.0 == name).map(|t| t.1)
}

/// Bytes per second wrk read (headers and bodies), when the run kept its byte count.
fn bytes_per_s(r: &Run) -> Option<f64> {
    (r.bytes > 0 && r.duration_s > 0.0).then(|| r.bytes as f64 / r.duration_s)
}

/// The ratio a workload is judged by: bytes/s for W1 (its body grows with the data),
/// req/s for the others.
fn ratio(name: &str, s1: &Run, s5: &Run) -> Option<f64> {
    if name == "W1" {
        Some(bytes_per_s(s5)? / bytes_per_s(s1)?)
    } else {
        Some(s5.rps / s1.rps)
    }
}

/// (workload, scale5/scale1, target) per workload with a target (for the plot).
pub fn scale_ratios(res: &Results) -> Vec<(String, f64, f64)> {
    res.variant("scale1")
        .into_iter()
        .filter_map(|s1| {
            let s5 = res.find("scale5", &s1.name)?;
            let target = scale_target(&s1.name)?;
            Some((s1.name.clone(), ratio(&s1.name, s1, s5)?, target))
        })
        .collect()
}

/// W1-W7 against the scale-1 and the scale-5 database, same server configuration.
pub fn scale(md: &mut String, res: &Results) {
    let s1 = res.variant("scale1");
    if s1.is_empty() || res.variant("scale5").is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Scale 5 against scale 1 (same run, {:.0} s each)\n",
        s1[0].duration_s.round()
    );
    let _ = writeln!(md, "The same server configuration (make run's) against the standard database (scale 1: 1,000 products and 50,000 orders per tenant) and a second one seeded with `brisk seed --scale 5` (5,000 products and 250,000 orders per tenant), each with its own workload ids and Redis prefix. W1's body grows with the catalog, so it is judged by bytes/s (wrk's bytes read, headers included); the others by req/s.\n");
    let _ = writeln!(md, "| workload | scale 1 req/s | p99 ms | MB/s | scale 5 req/s | p99 ms | MB/s | scale 5 / scale 1 | target |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mb = |r: &Run| bytes_per_s(r).map_or("–".into(), |b| format!("{:.1}", b / 1e6));
    let asked = s1
        .iter()
        .map(|r| r.duration_s)
        .fold(f64::INFINITY, f64::min);
    for a in &s1 {
        let Some(b) = res.find("scale5", &a.name) else {
            continue;
        };
        let (r, t) = (ratio(&a.name, a, b), scale_target(&a.name));
        let judged = if a.name == "W1" { " (bytes/s)" } else { "" };
        let verdict = match (r, t) {
            (Some(r), Some(t)) if r >= t => " ✓",
            (Some(_), Some(_)) => " ✗",
            _ => "",
        };
        // wrk's clock runs on while another agent's measurement pauses it (SIGSTOP): a
        // run much longer than asked measured the pause, not brisk.
        let paused = [a, b]
            .iter()
            .filter(|r| r.duration_s > asked * 1.5)
            .map(|r| {
                format!(
                    " (⚠ a run took {:.0} s: paused, not comparable)",
                    r.duration_s
                )
            })
            .collect::<String>();
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.2} | {} | {:.0} | {:.2} | {} | {}{judged}{verdict}{paused} | {} |",
            a.name,
            a.rps,
            a.p99_ms,
            mb(a),
            b.rps,
            b.p99_ms,
            mb(b),
            r.map_or("–".into(), |r| format!("{r:.2}")),
            t.map_or("–".into(), |t| format!("≥ {t:.2}")),
        );
    }
}

/// p50/p99 with oha at fixed rates below saturation.
pub fn openloop(md: &mut String, res: &Results) {
    if res.openloop.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Open-loop latency at 50 % and 80 % of saturation (same run)\n"
    );
    let _ = writeln!(md, "oha sends at a fixed rate whatever the latency (`-q RATE`, 64 connections, `--latency-correction`: each latency counts from the request's scheduled send time, so a stall is not hidden by the sender waiting). Saturation: the workload's wrk req/s in this run's main table (closed loop, 64 connections), or a short wrk run when main was skipped. W6 is left out: oha sends one method, and W6's mix has 10 % PUTs with bodies drawn by the wrk script.\n");
    let _ = writeln!(md, "| workload | saturation req/s (source) | rate | target req/s | requests | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | non-2xx/3xx | errors | closed-loop p99 ms at saturation |");
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut short = Vec::new();
    for o in &res.openloop {
        // Below the asked rate, the sender (sharing the cores) or the server could not
        // keep up: the latencies are those of an overload, not of that rate.
        if o.achieved_rps < 0.95 * o.target_rps {
            short.push(format!("{} at {:.0} %", o.name, o.fraction * 100.0));
        }
        let closed = res
            .find("main", &o.name)
            .or_else(|| res.find("openloop-saturation", &o.name))
            .map_or("–".into(), |r| format!("{:.2}", r.p99_ms));
        let _ = writeln!(
            md,
            "| {} `{}` | {:.0} ({}) | {:.0} % | {:.0} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {closed} |",
            o.name,
            o.label,
            o.saturation_rps,
            o.saturation_source,
            o.fraction * 100.0,
            o.target_rps,
            o.requests,
            o.achieved_rps,
            o.p50_ms,
            o.p90_ms,
            o.p99_ms,
            o.p999_ms,
            o.max_ms,
            o.non_2xx,
            o.errors,
        );
    }
    if !short.is_empty() {
        let _ = writeln!(md, "\nBelow 95 % of the asked rate (oha and brisk share the machine's cores; these percentiles are an overload's): {}.", short.join(", "));
    }
}

/// (workload at a rate, p50, p99) of the open-loop runs (for the plot).
pub fn openloop_points(runs: &[Openloop]) -> Vec<(String, f64, f64)> {
    runs.iter()
        .map(|o| {
            (
                format!("{} {:.0}%", o.name, o.fraction * 100.0),
                o.p50_ms,
                o.p99_ms,
            )
        })
        .collect()
}
