//! `report.md` of a `make bench` run: the workloads against the seed's Flask stack, the
//! worker sweep, the metrics middleware's cost, the stampede, and the same run's
//! ceilings, access-log cost, cluster row and doctor check, with the plots.

use crate::plots::{
    plot_ceilings, plot_latency, plot_openloop, plot_rps, plot_scale, plot_workers,
};
use crate::runs::{self, Run, Stampede};
use crate::{ceilings, doctor, scale};
use std::fmt::Write as _;
use std::path::Path;

/// The seed's Flask stack, tuned (4 gunicorn workers, wrk -t2 -c64), as issue 5 gives
/// it: req/s per workload, and the factor brisk aims at.
const BASELINE: [(&str, f64, f64); 7] = [
    ("W1", 1300.0, 20.0),
    ("W2", 1100.0, 20.0),
    ("W3", 120.0, 10.0),
    ("W4", 340.0, 10.0),
    ("W5", 1200.0, 20.0),
    ("W6", 300.0, 10.0),
    ("W7", 3800.0, 20.0),
];

/// Writes `report.md` and the plots for the results file into `out`.
pub fn report(results: &Path, out: &Path) -> Result<(), String> {
    let res = runs::read(results)?;
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let variant = |name: &str| res.variant(name);
    let (main, sweep) = (variant("main"), variant("sweep"));

    let mut md = String::new();
    let _ = writeln!(md, "# brisk benchmark report\n");
    let _ = writeln!(md, "{}\n", machine());
    let _ = writeln!(md, "wrk, 2 threads, 64 connections, {} s per run; brisk release build, seeded data set (scale 1) through PgBouncer; the server as `make run` starts it (access log on, written to a file; RUST_LOG unset: info), metrics on, plan limits raised (`--rate-limit-scale 100000`, the limiter in the path).\n",
        main.first().map_or(15.0, |r| r.duration_s.round()));
    workloads(&mut md, &main);
    ceilings::ceilings(&mut md, &res);
    ceilings::access_log(&mut md, &res);
    ceilings::cluster(&mut md, &res);
    doctor::doctor(&mut md, &res);
    scale::scale(&mut md, &res);
    scale::openloop(&mut md, &res);
    worker_sweep(&mut md, &sweep);
    middleware_cost(
        &mut md,
        &variant("middleware-on"),
        &variant("no-middleware"),
    );
    for s in &res.stampedes {
        stampede(&mut md, s);
    }
    let _ = writeln!(
        md,
        "\nPlots: `rps.svg`, `latency.svg`, `workers.svg`, `ceilings.svg` (each workload as a fraction of its ceiling), `scale.svg` (scale 5 / scale 1), `openloop.svg` (open-loop p50 / p99) beside this file."
    );
    std::fs::write(out.join("report.md"), md).map_err(|e| e.to_string())?;

    if !main.is_empty() {
        plot_rps(&main, &out.join("rps.svg")).map_err(|e| format!("rps.svg: {e}"))?;
        plot_latency(&main, &out.join("latency.svg")).map_err(|e| format!("latency.svg: {e}"))?;
    }
    let fractions = ceilings::fractions(&res);
    if !fractions.is_empty() {
        plot_ceilings(&fractions, &out.join("ceilings.svg"))
            .map_err(|e| format!("ceilings.svg: {e}"))?;
    }
    let ratios = scale::scale_ratios(&res);
    if !ratios.is_empty() {
        plot_scale(&ratios, &out.join("scale.svg")).map_err(|e| format!("scale.svg: {e}"))?;
    }
    if !res.openloop.is_empty() {
        plot_openloop(
            &scale::openloop_points(&res.openloop),
            &out.join("openloop.svg"),
        )
        .map_err(|e| format!("openloop.svg: {e}"))?;
    }
    if !sweep.is_empty() {
        plot_workers(&sweep, &out.join("workers.svg")).map_err(|e| format!("workers.svg: {e}"))?;
    }
    println!("{}", out.join("report.md").display());
    Ok(())
}

/// The workload table, each against the Flask baseline and brisk's target factor.
fn workloads(md: &mut String, main: &[&Run]) {
    if main.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Workloads\n");
    let _ = writeln!(md, "| workload | request | workers | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | non-2xx/3xx | Flask req/s | × Flask (target) |");
    let _ = writeln!(
        md,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in main {
        let (flask, ratio) = match BASELINE.iter().find(|b| b.0 == r.name) {
            Some((_, rps, target)) => (
                format!("{rps:.0}"),
                format!("{:.1}× ({target:.0}×)", r.rps / rps),
            ),
            None => ("–".into(), "–".into()),
        };
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {flask} | {ratio} |",
            r.name, r.label, r.workers, r.requests, r.rps, r.p50_ms, r.p90_ms, r.p99_ms,
            r.max_ms, r.errors, r.non_2xx_3xx,
        );
    }
}

fn worker_sweep(md: &mut String, sweep: &[&Run]) {
    if sweep.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Worker sweep\n");
    let _ = writeln!(
        md,
        "| workload | workers | req/s | p50 ms | p90 ms | p99 ms | errors |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    for r in sweep {
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            r.name,
            r.workers,
            r.rps,
            r.p50_ms,
            r.p90_ms,
            r.p99_ms,
            r.errors + r.non_2xx_3xx
        );
    }
}

/// `GET /health` with and without the metrics middleware (alternated runs).
fn middleware_cost(md: &mut String, on: &[&Run], off: &[&Run]) {
    if on.is_empty() || off.is_empty() {
        return;
    }
    let mean =
        |rs: &[&Run], f: fn(&Run) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / rs.len() as f64;
    let _ = writeln!(
        md,
        "\n## Cost of the metrics middleware (`GET /health`, same run)\n"
    );
    let _ = writeln!(md, "Runs alternate off, on, off, on (a fresh server each), so load drift falls on both sides. Both sides with the access log off and RUST_LOG=warn (`--metrics-middleware false` turns the access log off too; the access log's cost is its own section).\n");
    let _ = writeln!(md, "| middleware | runs (req/s) | mean req/s | mean p50 ms | mean p99 ms |\n|---|---|---:|---:|---:|");
    for (label, rs) in [("on", on), ("off (`--metrics-middleware false`)", off)] {
        let each: Vec<String> = rs.iter().map(|r| format!("{:.0}", r.rps)).collect();
        let _ = writeln!(
            md,
            "| {label} | {} | {:.0} | {:.2} | {:.2} |",
            each.join(", "),
            mean(rs, |r| r.rps),
            mean(rs, |r| r.p50_ms),
            mean(rs, |r| r.p99_ms)
        );
    }
    let _ = writeln!(
        md,
        "\nCost: {:.1} % of /health throughput (a negative cost means the two sides differ by less than the noise).",
        (1.0 - mean(on, |r| r.rps) / mean(off, |r| r.rps)) * 100.0
    );
}

fn stampede(md: &mut String, s: &Stampede) {
    let _ = writeln!(
        md,
        "\n## Stampede: {} concurrent requests for one cold product summary\n",
        s.n
    );
    let _ = writeln!(md, "| 200 OK | statuses | SQL statements run | cache misses | coalesced | hits | wall ms |\n|---:|---|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        md,
        "| {} | {:?} | {} | {} | {} | {} | {:.0} |",
        s.ok, s.statuses, s.statements, s.cache_miss, s.cache_coalesced, s.cache_hit, s.wall_ms
    );
}

/// One line on the machine the report was written on.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, v)| v.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    format!("Machine: {cores} cores (nproc), {model}, {mem_gib:.1} GiB memory; load generator on the same machine; 1-minute load average when the report was written: {load}.")
}
