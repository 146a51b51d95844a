//! The report's comparisons within one run: brisk against the machine's ceilings (nginx
//! serving the same bytes, pgbench running the same statements), the access log on
//! against off, and the cluster row (nginx in front of 2 processes against one direct).

use crate::runs::{Results, Run};
use std::fmt::Write as _;

/// Issue 17's targets: brisk / ceiling per workload.
const CEILING_TARGETS: [(&str, f64); 6] = [
    ("W1", 0.75),
    ("W2", 0.75),
    ("W5", 0.75),
    ("W7", 0.90),
    ("W3", 0.70),
    ("W4", 0.70),
];

fn target(name: &str) -> f64 {
    CEILING_TARGETS
        .iter()
        .find(|t| t.0 == name)
        .map_or(f64::NAN, |t| t.1)
}

fn cpu(r: &Run) -> String {
    r.cpu_us_per_request()
        .map_or("–".into(), |us| format!("{us:.0}"))
}

/// `a` against `b` as a signed change in per cent ("−25.5 %": `a` is a quarter lower).
fn change(a: f64, b: f64) -> String {
    format!("{:+.1} %", (a / b - 1.0) * 100.0)
}

/// The change of CPU per request from `b` to `a`, when both were measured.
fn cpu_change(a: &Run, b: &Run) -> String {
    match (a.cpu_us_per_request(), b.cpu_us_per_request()) {
        (Some(x), Some(y)) => change(x, y),
        _ => "–".into(),
    }
}

/// W1, W2, W5, W7 against nginx; W3, W4 against pgbench (brisk's figures: the main runs).
pub fn ceilings(md: &mut String, res: &Results) {
    let nginx = res.variant("ceiling-nginx");
    if nginx.is_empty() && res.pgbench.is_empty() {
        return;
    }
    let secs = nginx.first().map_or(0.0, |r| r.duration_s.round());
    let _ = writeln!(md, "\n## brisk against the machine's ceilings (same run)\n");
    let _ = writeln!(md, "nginx 1.22 (Debian's; 2 workers, access log off, keep-alive, sendfile) serves the bytes brisk sent for W1 (the catalog), W2 (the summary of tenant 2's first product) and W5 (the search of the first term) as static files, and `/health` as `return 200` with brisk's body; wrk drives it with the workloads' own script, {secs:.0} s per run. pgbench (prepared statements, as diesel sends them, through PgBouncer like brisk) runs the statements brisk ran for W3 (the page, then its orders' items; 20 pages at random) and W4 (a random order of tenant 2 with its customer, then its items); the statements are in `ceilings/pgbench/`. brisk's figures: the workload table above (make run's configuration).\n");
    let _ = writeln!(md, "| workload | brisk req/s | brisk CPU µs/req | ceiling | ceiling req/s | ceiling CPU µs/req | brisk / ceiling | target |");
    let _ = writeln!(md, "|---|---:|---:|---|---:|---:|---:|---:|");
    for n in &nginx {
        let brisk = res.find("main", &n.name);
        let _ = writeln!(
            md,
            "| {} | {} | {} | nginx static | {:.0} | {} | {} | {:.2} |",
            n.name,
            brisk.map_or("–".into(), |b| format!("{:.0}", b.rps)),
            brisk.map_or("–".into(), cpu),
            n.rps,
            cpu(n),
            brisk.map_or("–".into(), |b| format!("{:.2}", b.rps / n.rps)),
            target(&n.name)
        );
    }
    for p in &res.pgbench {
        let brisk = res.find("main", &p.name);
        let _ = writeln!(
            md,
            "| {} | {} | {} | pgbench: {}; {} connections, {} transactions in {:.0} s ({} failed), mean latency {:.2} ms | {:.0} tps | – | {} | {:.2} |",
            p.name,
            brisk.map_or("–".into(), |b| format!("{:.0}", b.rps)),
            brisk.map_or("–".into(), cpu),
            p.label,
            p.clients,
            p.transactions,
            p.duration_s,
            p.failed,
            p.latency_ms,
            p.tps,
            brisk.map_or("–".into(), |b| format!("{:.2}", b.rps / p.tps)),
            target(&p.name)
        );
    }
    let _ = writeln!(md, "\nCPU µs/req: the server's user + system time during the run (/proc; nginx: its master and workers) over the requests answered.");
}

/// brisk / ceiling and the target, per workload that has both figures (for the plot).
pub fn fractions(res: &Results) -> Vec<(String, f64, f64)> {
    let nginx = res
        .variant("ceiling-nginx")
        .into_iter()
        .map(|n| (n.name.clone(), n.rps));
    let pgbench = res.pgbench.iter().map(|p| (p.name.clone(), p.tps));
    nginx
        .chain(pgbench)
        .filter_map(|(name, ceiling)| {
            let brisk = res.find("main", &name)?;
            (ceiling > 0.0).then(|| (name.clone(), brisk.rps / ceiling, target(&name)))
        })
        .collect()
}

/// make run's configuration (access log on, RUST_LOG unset: info) against the access log
/// off with RUST_LOG=warn, W1 and W7, adjacent runs.
pub fn access_log(md: &mut String, res: &Results) {
    let (on, off) = (res.variant("log-on"), res.variant("log-off"));
    if on.is_empty() || off.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## The access log's cost (adjacent runs, {:.0} s each)\n",
        on[0].duration_s.round()
    );
    let _ = writeln!(md, "On: as `make run` starts the server (one access line per request, RUST_LOG unset: info; the bench sends the server's output to a file). Off: `--access-log false` and RUST_LOG=warn, the configuration earlier reports measured.\n");
    let _ = writeln!(md, "| workload | on req/s | on p99 ms | on CPU µs/req | off req/s | off p99 ms | off CPU µs/req | req/s on against off | CPU/req on against off |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for a in &on {
        let Some(b) = off.iter().find(|b| b.name == a.name) else {
            continue;
        };
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.2} | {} | {:.0} | {:.2} | {} | {} | {} |",
            a.name,
            a.rps,
            a.p99_ms,
            cpu(a),
            b.rps,
            b.p99_ms,
            cpu(b),
            change(a.rps, b.rps),
            cpu_change(a, b)
        );
    }
}

/// W1 and W3 through nginx to 2 processes of 1 worker against one process of 2 workers.
pub fn cluster(md: &mut String, res: &Results) {
    let (proxied, direct) = (res.variant("cluster-nginx"), res.variant("cluster-direct"));
    if proxied.is_empty() || direct.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Cluster row: nginx in front of 2 processes against one process direct ({:.0} s runs)\n",
        proxied[0].duration_s.round());
    let _ = writeln!(md, "Proxied: `deploy/nginx.conf` as `make cluster` runs it (1 nginx worker, upstream keep-alive, its access log on) in front of 2 brisk processes of 1 worker (`--processes 2 --trusted-hops 1`). Direct: one process of 2 workers. Both with make run's log configuration; CPU of the proxied row counts both processes and nginx.\n");
    let _ = writeln!(md, "| workload | proxied req/s | p50 / p99 ms | CPU µs/req | direct req/s | p50 / p99 ms | CPU µs/req | req/s through the proxy | CPU/req through the proxy |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut overhead = Vec::new();
    for p in &proxied {
        let Some(d) = direct.iter().find(|d| d.name == p.name) else {
            continue;
        };
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.2} / {:.2} | {} | {:.0} | {:.2} / {:.2} | {} | {} | {} |",
            p.name,
            p.rps,
            p.p50_ms,
            p.p99_ms,
            cpu(p),
            d.rps,
            d.p50_ms,
            d.p99_ms,
            cpu(d),
            change(p.rps, d.rps),
            cpu_change(p, d)
        );
        overhead.push(format!(
            "{} {} req/s and {} CPU per request",
            p.name,
            change(p.rps, d.rps),
            cpu_change(p, d)
        ));
    }
    let _ = writeln!(
        md,
        "\nThe proxy's overhead in this run (2 processes behind nginx against 1 process direct, same cores): {}.",
        overhead.join("; ")
    );
}
