//! The rows about serving: cache, limits (from the login probe), workers,
//! compression, transfer, and the deployment rows (private operations endpoints,
//! passwords on PgBouncer and Redis).

use super::evidence::{Evidence, RouteTotals};
use super::report::{Row, Verdict};
use super::{cache_rows, limit_rows};
use crate::config::DoctorArgs;

/// Cache → limits → workers → compression → transfer → deployment.
pub fn cache_limits_and_the_rest(e: &Evidence, args: &DoctorArgs) -> Vec<Row> {
    let mut rows = vec![
        cache_rows::hit_ratio(e),
        shared_store(e, "cache", "the store is shared"),
        cache_rows::views_and_memos(e),
        Row::new(
            "cache",
            "no user data in a shared entry",
            Verdict::Pass,
            "by construction: every entry key carries its tenant's tag (the kit's key builder)"
                .into(),
        ),
        cache_rows::invalidation(e, args),
        cache_rows::stampede(e),
        cache_rows::http_caching(e, args),
        shared_store(e, "limits", "shared storage"),
        limit_rows::route_limits(e),
    ];
    rows.extend(limit_rows::login_rows(e));
    rows.push(workers(e));
    rows.push(capacity(e, args));
    rows.push(compression(e));
    rows.push(payload(e, args));
    rows.extend(deployment(e, args));
    rows
}

/// The store row of the cache or of the limiter: Redis, or in-process with one process.
fn shared_store(e: &Evidence, stage: &'static str, name: &'static str) -> Row {
    let row = |v, ev| Row::new(stage, name, v, ev);
    let Some(store) = e.setting("store") else {
        return row(Verdict::Unknown, "no brisk_config_info in /metrics".into());
    };
    let processes = e
        .setting("processes")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(e.scraped);
    match store {
        "redis" => row(
            Verdict::Pass,
            format!("store redis, {processes} process(es)"),
        ),
        _ if processes > 1 => row(
            Verdict::Fail,
            format!("store {store} with {processes} processes: each keeps its own"),
        )
        .fix("serve every process with --store redis"),
        _ => row(
            Verdict::Warn,
            format!("store {store}: right for one process only"),
        )
        .fix("use --store redis before adding a second process"),
    }
}

fn workers(e: &Evidence) -> Row {
    let row = |v, ev| Row::new("workers", "worker count", v, ev);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let Some(workers) = e.setting("workers").and_then(|w| w.parse::<usize>().ok()) else {
        return row(Verdict::Unknown, "no brisk_config_info in /metrics".into());
    };
    let processes = e.scraped.max(1);
    let evidence = format!(
        "{workers} worker(s) × {processes} process(es) on {cores} core(s) (the doctor's host)"
    );
    if workers * processes < cores {
        return row(Verdict::Warn, evidence)
            .fix("run one worker per core (--workers, default: the core count)");
    }
    row(Verdict::Pass, evidence)
}

fn capacity(e: &Evidence, args: &DoctorArgs) -> Row {
    let row = |v, ev| Row::new("workers", "scale out after lightening", v, ev);
    let postgres_ms = match &e.window {
        Some(w) => match &w.db_exec_ms {
            Ok(ms) => format!(
                "{:.3} ms by PostgreSQL's clock (pg_stat_statements), ",
                ms / w.requests().max(1.0)
            ),
            Err(err) => format!("PostgreSQL's clock unread ({err}), "),
        },
        None => String::new(),
    };
    let (cpu, requests, routes, span) = match &e.window {
        Some(w) => (
            Some(w.cpu_seconds),
            w.requests(),
            &w.routes,
            format!(
                "over the {:.0} s window ({:.0} requests/s)",
                w.seconds,
                w.requests() / w.seconds.max(1.0)
            ),
        ),
        None => (
            e.total("process_cpu_seconds_total"),
            e.requests(),
            &e.routes,
            "since start (start-up included; --window for a load's own)".to_string(),
        ),
    };
    let Some(cpu) = cpu else {
        return row(
            Verdict::Unknown,
            "no process_cpu_seconds_total in /metrics".into(),
        );
    };
    if requests < 100.0 {
        return row(
            Verdict::Unknown,
            format!("fewer than 100 requests recorded {span}: no mix to price"),
        );
    }
    let per_request_ms = 1000.0 * cpu / requests;
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let db_ms: f64 = 1000.0 * routes.values().map(|r| r.db_seconds).sum::<f64>() / requests;
    let workers: f64 = e
        .setting("workers")
        .and_then(|w| w.parse().ok())
        .unwrap_or(cores);
    let target = args.target_rps;
    let processes = (target * per_request_ms / 1000.0 / workers.max(1.0)).ceil();
    let connections = (target * db_ms / 1000.0).ceil();
    row(Verdict::Pass, format!(
        "{per_request_ms:.3} CPU-ms per request; DB {postgres_ms}{db_ms:.3} ms waited by the server; {span}: \
         about {:.0} requests/s per core, {:.0} on this host's {cores} core(s) (brisk's own CPU); \
         {target:.0} requests/s (--target-rps) need {processes:.0} process(es) of {workers:.0} worker(s) \
         and about {connections:.0} database connection(s) busy at these SQL times; {}",
        1000.0 / per_request_ms, cores * 1000.0 / per_request_ms, route_costs(routes)
    ))
}

/// DB, Redis and bytes per request of the three busiest routes.
fn route_costs(routes: &std::collections::BTreeMap<String, RouteTotals>) -> String {
    let mut busiest: Vec<_> = routes.iter().filter(|(_, r)| r.count > 0.0).collect();
    busiest.sort_by(|a, b| b.1.count.total_cmp(&a.1.count));
    let costs: Vec<String> = busiest
        .iter()
        .take(3)
        .map(|(route, r)| {
            format!(
                "{route}: DB {:.2} ms, Redis {:.2} ms, {:.1} KB per request",
                1000.0 * r.db_seconds / r.count,
                1000.0 * r.redis_seconds / r.count,
                r.bytes_out / r.count / 1024.0
            )
        })
        .collect();
    costs.join("; ")
}

fn compression(e: &Evidence) -> Row {
    let row = |v, ev| Row::new("compression", "compressed", v, ev);
    let stage = |st| e.total_where("brisk_http_response_compression_bytes_total", "stage", st);
    let (before, after) = (stage("before"), stage("after"));
    let saved = if before > 0.0 {
        format!(
            "; {:.0} % of the known-size body bytes saved ({:.0} KB of {:.0} KB)",
            100.0 * (before - after) / before,
            (before - after) / 1e3,
            before / 1e3
        )
    } else {
        String::new()
    };
    match &e.probes.compression {
        None => row(
            Verdict::Unknown,
            format!("probes turned off (--no-probes){saved}"),
        ),
        Some(Err(err)) => row(Verdict::Unknown, format!("probe failed: {err}{saved}")),
        Some(Ok(true)) => row(
            Verdict::Pass,
            format!("a gzip request for /openapi.json came back gzip-encoded{saved}"),
        ),
        Some(Ok(false)) => row(
            Verdict::Fail,
            format!("a gzip request for /openapi.json came back uncompressed{saved}"),
        )
        .fix("turn compression on (the kit's default)"),
    }
}

fn payload(e: &Evidence, args: &DoctorArgs) -> Row {
    let row = |v, ev| Row::new("transfer", "payload size", v, ev);
    let whole: Vec<&str> = args.whole_routes.split(',').map(str::trim).collect();
    let mut seen: Vec<(String, f64)> = e
        .routes
        .iter()
        .filter(|(_, r)| r.count > 0.0 && !r.sizes.is_empty())
        .map(|(route, r)| (route.clone(), r.p95_bytes()))
        .collect();
    if seen.is_empty() {
        return row(Verdict::Unknown, "no response sizes recorded yet".into());
    }
    seen.sort_by(|a, b| b.1.total_cmp(&a.1));
    let over: Vec<String> = seen
        .iter()
        .filter(|(route, p95)| {
            let path = route.split_once(' ').map_or(route.as_str(), |(_, p)| p);
            *p95 > args.payload_bytes as f64 && !whole.contains(&path)
        })
        .map(|(route, p95)| format!("{route} p95 ≤ {:.0} KB", p95 / 1024.0))
        .collect();
    let largest: Vec<String> = seen
        .iter()
        .take(3)
        .map(|(route, p95)| format!("{route} p95 ≤ {:.0} KB", p95 / 1024.0))
        .collect();
    if !over.is_empty() {
        return row(
            Verdict::Fail,
            format!(
                "above {} KB without paging: {}",
                args.payload_bytes / 1024,
                over.join(", ")
            ),
        )
        .fix("page those routes (or name them in --whole-routes if the API defines them whole)");
    }
    row(
        Verdict::Pass,
        format!(
            "largest: {} (exempt as whole: {})",
            largest.join(", "),
            args.whole_routes
        ),
    )
}

fn deployment(e: &Evidence, args: &DoctorArgs) -> Vec<Row> {
    let severity = exposure(e);
    vec![
        secret_row(e, severity),
        operations_row(e, severity),
        pgbouncer_password_row(e, severity),
        redis_password_row(e, args, severity),
    ]
}

/// How bad an exposed development setting is: a warning on a loopback listener (a
/// development server like `make run`'s), a failure on any other address.
fn exposure(e: &Evidence) -> Verdict {
    let loopback = e.setting("api_bind").is_some_and(|b| {
        b.starts_with("127.") || b.starts_with("[::1]") || b.starts_with("localhost")
    });
    if loopback {
        Verdict::Warn
    } else {
        Verdict::Fail
    }
}

fn secret_row(e: &Evidence, severity: Verdict) -> Row {
    let row = |v, ev: &str| Row::new("deployment", "cursor secret set", v, ev.into());
    match e.setting("cursor_secret") {
        None => row(Verdict::Unknown, "brisk_config_info has no cursor_secret"),
        Some("development") => row(severity, "the development default signs cursors")
            .fix("set BRISK_SECRET (the same in every process) to a long random value"),
        Some(_) => row(Verdict::Pass, "a secret of its own signs cursors"),
    }
}

fn operations_row(e: &Evidence, severity: Verdict) -> Row {
    let row = |v, ev: String| Row::new("deployment", "operations endpoints private", v, ev);
    match e.setting("operations") {
        None => row(Verdict::Unknown, "no brisk_config_info in /metrics".into()),
        Some("api") => row(
            severity,
            format!(
                "/metrics, /dashboard and /ready are served on the API listener {}",
                e.setting("api_bind").unwrap_or("?")
            ),
        )
        .fix("serve them on a private address with --admin-bind"),
        Some(addr) => row(Verdict::Pass, format!("on their own listener {addr}")),
    }
}

fn pgbouncer_password_row(e: &Evidence, severity: Verdict) -> Row {
    let row = |v, ev: String| Row::new("deployment", "PgBouncer asks a password", v, ev);
    match &e.pgbouncer {
        Err(err) => row(Verdict::Unknown, format!("PgBouncer: {err}")),
        Ok(b) if b.auth_type == "trust" => row(severity, "auth_type = trust".into())
            .fix("set PgBouncer's auth_type to scram-sha-256 with an auth_file"),
        Ok(b) => row(Verdict::Pass, format!("auth_type = {}", b.auth_type)),
    }
}

fn redis_password_row(e: &Evidence, args: &DoctorArgs, severity: Verdict) -> Row {
    let row = |v, ev: String| Row::new("deployment", "Redis asks a password", v, ev);
    match &e.redis_open {
        Err(err) => row(Verdict::Unknown, format!("Redis {}: {err}", args.redis_url)),
        Ok(true) => row(severity, "PING answered without a password".into())
            .fix("set requirepass (or an ACL user) and give brisk the password in --redis-url"),
        Ok(false) => row(Verdict::Pass, "NOAUTH without a password".into()),
    }
}
