//! `make bench` helper (driven by `scripts/bench.sh`):
//!
//! - `bench_report stampede <base-url> <api-key> <product-id> <n>`: fires `n` concurrent
//!   requests for one cold product summary and prints, as one JSON line, how many SQL
//!   statements and cache misses they caused (read from `/metrics` before and after).
//! - `bench_report report <results.jsonl> <out-dir>`: writes `report.md` and SVG plots
//!   (`rps.svg`, `latency.svg`, `workers.svg`) drawn with plotters.

use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// One load-generator run, as the wrk script's `done()` prints it.
#[derive(Debug, Clone, Deserialize)]
struct Run {
    name: String,
    label: String,
    workers: u32,
    #[serde(default)]
    variant: String,
    requests: u64,
    duration_s: f64,
    rps: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    non_2xx_3xx: u64,
}

/// The stampede experiment's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stampede {
    kind: String,
    n: usize,
    ok: usize,
    statuses: BTreeMap<u16, usize>,
    statements: f64,
    cache_miss: f64,
    cache_coalesced: f64,
    cache_hit: f64,
    wall_ms: f64,
}

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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("stampede") if args.len() == 5 => stampede(&args[1], &args[2], &args[3], &args[4]),
        Some("report") if args.len() == 3 => report(Path::new(&args[1]), Path::new(&args[2])),
        _ => Err("usage: bench_report stampede <base-url> <api-key> <product-id> <n> | report <results.jsonl> <out-dir>".into()),
    };
    if let Err(e) = outcome {
        eprintln!("bench_report: {e}");
        std::process::exit(1);
    }
}

/// Sum of every sample of `family` whose labels contain `needle`.
fn metric_sum(text: &str, family: &str, needle: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with(family) && l[family.len()..].starts_with('{') && l.contains(needle)
        })
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

fn stampede(base: &str, key: &str, product: &str, n: &str) -> Result<(), String> {
    let n: usize = n.parse().map_err(|_| format!("n: not a number: {n}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(n)
            .build()
            .map_err(|e| e.to_string())?;
        let scrape = || async {
            client
                .get(format!("{base}/metrics"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())
        };
        let route = "route=\"/api/products/{id}/summary\"";
        let before = scrape().await?;
        let url = format!("{base}/api/products/{product}/summary");
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
        let started = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (client, url, key, barrier) = (
                    client.clone(),
                    url.clone(),
                    key.to_string(),
                    barrier.clone(),
                );
                tokio::spawn(async move {
                    barrier.wait().await;
                    match client.get(&url).bearer_auth(&key).send().await {
                        Ok(res) => {
                            let status = res.status().as_u16();
                            let _ = res.bytes().await;
                            status
                        }
                        Err(_) => 0,
                    }
                })
            })
            .collect();
        let mut statuses = BTreeMap::new();
        for t in tasks {
            *statuses.entry(t.await.unwrap_or(0)).or_insert(0) += 1;
        }
        let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
        // The access log records a request when its body ends: wait (bounded) until all n
        // are counted before reading the deltas.
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let mut after = scrape().await?;
        let count = |t: &str| metric_sum(t, "brisk_http_requests_total", route);
        while count(&after) - count(&before) < n as f64 && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            after = scrape().await?;
        }
        let delta = |family: &str, needle: &str| {
            metric_sum(&after, family, needle) - metric_sum(&before, family, needle)
        };
        let out = Stampede {
            kind: "stampede".into(),
            n,
            ok: statuses.get(&200).copied().unwrap_or(0),
            statuses,
            statements: delta("brisk_http_request_statements_sum", route),
            cache_miss: delta("brisk_cache_events_total", "outcome=\"miss\""),
            cache_coalesced: delta("brisk_cache_events_total", "outcome=\"coalesced\""),
            cache_hit: delta("brisk_cache_events_total", "outcome=\"hit\""),
            wall_ms,
        };
        println!(
            "{}",
            serde_json::to_string(&out).map_err(|e| e.to_string())?
        );
        Ok(())
    })
}

fn report(results: &Path, out: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(results).map_err(|e| format!("{}: {e}", results.display()))?;
    let mut runs = Vec::new();
    let mut stampedes = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{line}: {e}"))?;
        if value.get("kind").and_then(|k| k.as_str()) == Some("stampede") {
            stampedes
                .push(serde_json::from_str::<Stampede>(line).map_err(|e| format!("{line}: {e}"))?);
        } else {
            runs.push(serde_json::from_str::<Run>(line).map_err(|e| format!("{line}: {e}"))?);
        }
    }
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let main: Vec<&Run> = runs.iter().filter(|r| r.variant == "main").collect();
    let sweep: Vec<&Run> = runs.iter().filter(|r| r.variant == "sweep").collect();
    let nomw: Vec<&Run> = runs
        .iter()
        .filter(|r| r.variant == "no-middleware")
        .collect();

    let mut md = String::new();
    let _ = writeln!(md, "# brisk benchmark report\n");
    let _ = writeln!(md, "{}\n", machine());
    let _ = writeln!(md, "wrk, 2 threads, 64 connections, {} s per run; brisk release build, seeded data set (scale 1) through PgBouncer; access log off, metrics on.\n",
        main.first().map_or(15.0, |r| r.duration_s.round()));
    let _ = writeln!(md, "## Workloads\n");
    let _ = writeln!(md, "| workload | request | workers | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | non-2xx/3xx | Flask req/s | × Flask (target) |");
    let _ = writeln!(
        md,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &main {
        let base = BASELINE.iter().find(|b| b.0 == r.name);
        let (flask, ratio) = match base {
            Some((_, rps, target)) => (
                format!("{rps:.0}"),
                format!("{:.1}× ({target:.0}×)", r.rps / rps),
            ),
            None => ("–".into(), "–".into()),
        };
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {} |",
            r.name,
            r.label,
            r.workers,
            r.requests,
            r.rps,
            r.p50_ms,
            r.p90_ms,
            r.p99_ms,
            r.max_ms,
            r.errors,
            r.non_2xx_3xx,
            flask,
            ratio
        );
    }
    if !sweep.is_empty() {
        let _ = writeln!(md, "\n## Worker sweep\n");
        let _ = writeln!(
            md,
            "| workload | workers | req/s | p50 ms | p90 ms | p99 ms | errors |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
        for r in &sweep {
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
    let mwon: Vec<&Run> = runs
        .iter()
        .filter(|r| r.variant == "middleware-on")
        .collect();
    if !nomw.is_empty() && !mwon.is_empty() {
        let mean = |rs: &[&Run], f: fn(&Run) -> f64| {
            rs.iter().map(|r| f(r)).sum::<f64>() / rs.len() as f64
        };
        let _ = writeln!(
            md,
            "\n## Cost of the metrics middleware (`GET /health`, same run)\n"
        );
        let _ = writeln!(md, "Runs alternate off, on, off, on (a fresh server each), so load drift falls on both sides.\n");
        let _ = writeln!(md, "| middleware | runs (req/s) | mean req/s | mean p50 ms | mean p99 ms |\n|---|---|---:|---:|---:|");
        for (label, rs) in [("on", &mwon), ("off (`--metrics-middleware false`)", &nomw)] {
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
            (1.0 - mean(&mwon, |r| r.rps) / mean(&nomw, |r| r.rps)) * 100.0
        );
    }
    for s in &stampedes {
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
    let _ = writeln!(
        md,
        "\nPlots: `rps.svg`, `latency.svg`, `workers.svg` beside this file."
    );
    std::fs::write(out.join("report.md"), md).map_err(|e| e.to_string())?;

    plot_rps(&main, &out.join("rps.svg")).map_err(|e| format!("rps.svg: {e}"))?;
    plot_latency(&main, &out.join("latency.svg")).map_err(|e| format!("latency.svg: {e}"))?;
    if !sweep.is_empty() {
        plot_workers(&sweep, &out.join("workers.svg")).map_err(|e| format!("workers.svg: {e}"))?;
    }
    println!("{}", out.join("report.md").display());
    Ok(())
}

fn machine() -> String {
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

type PlotResult = Result<(), Box<dyn std::error::Error>>;

const COLORS: [RGBColor; 3] = [
    RGBColor(0x4c, 0x9b, 0xe8),
    RGBColor(0xf0, 0xa2, 0x3b),
    RGBColor(0xe0, 0x4f, 0x5f),
];

fn plot_rps(runs: &[&Run], path: &Path) -> PlotResult {
    let root = SVGBackend::new(path, (900, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = runs.iter().map(|r| r.rps).fold(1.0, f64::max) * 1.15;
    let n = runs.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Requests per second by workload (64 connections)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, 0f64..max)?;
    let names: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 1e-6 {
                names.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("req/s")
        .draw()?;
    chart.draw_series(runs.iter().enumerate().map(|(i, r)| {
        Rectangle::new(
            [(i as f64 + 0.15, 0.0), (i as f64 + 0.85, r.rps)],
            COLORS[0].filled(),
        )
    }))?;
    chart.draw_series(runs.iter().enumerate().map(|(i, r)| {
        Text::new(
            format!("{:.0}", r.rps),
            (i as f64 + 0.25, r.rps + max * 0.02),
            ("sans-serif", 13),
        )
    }))?;
    root.present()?;
    Ok(())
}

fn plot_latency(runs: &[&Run], path: &Path) -> PlotResult {
    let root = SVGBackend::new(path, (900, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = runs.iter().map(|r| r.p99_ms).fold(0.1, f64::max) * 1.15;
    let n = runs.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Latency by workload: p50 / p90 / p99 (ms)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, 0f64..max)?;
    let names: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 1e-6 {
                names.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("ms")
        .draw()?;
    for (k, (label, pick)) in [("p50", 0usize), ("p90", 1), ("p99", 2)]
        .into_iter()
        .enumerate()
    {
        let color = COLORS[k];
        chart
            .draw_series(runs.iter().enumerate().map(move |(i, r)| {
                let v = [r.p50_ms, r.p90_ms, r.p99_ms][pick];
                let x0 = i as f64 + 0.1 + k as f64 * 0.27;
                Rectangle::new([(x0, 0.0), (x0 + 0.25, v)], color.filled())
            }))?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;
    root.present()?;
    Ok(())
}

fn plot_workers(runs: &[&Run], path: &Path) -> PlotResult {
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut by_name: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for r in runs {
        by_name.entry(r.name.as_str()).or_default().push(r);
    }
    let panels = root.split_evenly((1, by_name.len().max(1)));
    for ((name, mut rs), panel) in by_name.into_iter().zip(panels.iter()) {
        rs.sort_by_key(|r| r.workers);
        let max = rs.iter().map(|r| r.rps).fold(1.0, f64::max) * 1.2;
        let max_w = rs.iter().map(|r| r.workers).max().unwrap_or(4) as f64;
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{name}: req/s by workers"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0.5f64..max_w + 0.5, 0f64..max)?;
        chart
            .configure_mesh()
            .x_desc("workers")
            .y_desc("req/s")
            .draw()?;
        chart.draw_series(LineSeries::new(
            rs.iter().map(|r| (r.workers as f64, r.rps)),
            COLORS[0].stroke_width(2),
        ))?;
        chart.draw_series(
            rs.iter()
                .map(|r| Circle::new((r.workers as f64, r.rps), 4, COLORS[0].filled())),
        )?;
        chart.draw_series(rs.iter().map(|r| {
            Text::new(
                format!("{:.0}", r.rps),
                (r.workers as f64 + 0.05, r.rps + max * 0.03),
                ("sans-serif", 13),
            )
        }))?;
    }
    root.present()?;
    Ok(())
}
