//! The measure and database rows: what the latency, statement and SQL-time
//! histograms, PostgreSQL, PgBouncer and the OpenAPI document say.

use super::evidence::Evidence;
use super::report::{Row, Verdict};
use crate::config::DoctorArgs;

const IDLE: &str = "no requests recorded yet: run traffic, then ask again";

/// Measure → DB, in the checklist's order.
pub fn measure_and_database(e: &Evidence, args: &DoctorArgs) -> Vec<Row> {
    vec![
        histograms(e),
        statements(e, args),
        bottleneck(e),
        eager_loading(e, args),
        indexes(e, args),
        budget(e, args),
        recycling(e),
        pgbouncer_in_path(e),
        lists_capped(e),
    ]
}

fn histograms(e: &Evidence) -> Row {
    let row = |v, ev| Row::new("measure", "p95/p99 per route", v, ev);
    if e.scraped == 0 {
        return row(
            Verdict::Unknown,
            format!("no /metrics: {}", e.scrape_errors.join("; ")),
        );
    }
    if e.setting("metrics_middleware") == Some("false") {
        return row(Verdict::Fail, "the metrics middleware is off".into())
            .fix("serve with --metrics-middleware true (the default)");
    }
    if e.routes.is_empty() {
        return row(Verdict::Unknown, IDLE.into());
    }
    let evidence = format!(
        "{} routes with a latency histogram (brisk_http_request_duration_seconds) from {} process(es) (found through {})",
        e.routes.len(),
        e.scraped,
        e.ops_source
    );
    row(Verdict::Pass, evidence)
}

fn statements(e: &Evidence, args: &DoctorArgs) -> Row {
    let row = |v, ev| Row::new("measure", "statements per request", v, ev);
    if e.routes.is_empty() {
        return row(Verdict::Unknown, IDLE.into());
    }
    let over: Vec<String> = e
        .routes
        .iter()
        .filter(|(_, r)| r.mean_statements() > args.n_plus_one)
        .map(|(route, r)| format!("{route}: {:.1}", r.mean_statements()))
        .collect();
    if over.is_empty() {
        let worst = e
            .routes
            .values()
            .map(|r| r.mean_statements())
            .fold(0.0, f64::max);
        return row(
            Verdict::Pass,
            format!(
                "every route ≤ {} statements per request on average (highest {worst:.1})",
                args.n_plus_one
            ),
        );
    }
    row(
        Verdict::Fail,
        format!("over {} per request: {}", args.n_plus_one, over.join(", ")),
    )
    .fix("load the relations of those routes eagerly (one query per relation, not per row)")
}

fn bottleneck(e: &Evidence) -> Row {
    let row = |v, ev| Row::new("measure", "the bottleneck", v, ev);
    let mut ranked: Vec<_> = e.routes.iter().filter(|(_, r)| r.count > 0.0).collect();
    if ranked.is_empty() {
        return row(Verdict::Unknown, IDLE.into());
    }
    ranked.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds));
    let total: f64 = ranked.iter().map(|(_, r)| r.seconds).sum();
    let top: Vec<String> = ranked
        .iter()
        .take(3)
        .map(|(route, r)| {
            format!(
                "{route} {:.0} % of the time ({:.0} % of it in SQL)",
                100.0 * r.seconds / total.max(f64::EPSILON),
                100.0 * r.db_seconds / r.seconds.max(f64::EPSILON)
            )
        })
        .collect();
    row(Verdict::Pass, top.join("; "))
}

/// GET routes whose OpenAPI parameters page through a list.
pub fn list_routes(e: &Evidence) -> Vec<String> {
    let Ok(doc) = &e.openapi else { return vec![] };
    let Some(paths) = doc["paths"].as_object() else {
        return vec![];
    };
    paths
        .iter()
        .filter(|(_, item)| {
            item["get"]["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| matches!(p["name"].as_str(), Some("per_page" | "limit")))
            })
        })
        .map(|(path, _)| path.clone())
        .collect()
}

fn eager_loading(e: &Evidence, args: &DoctorArgs) -> Row {
    let row = |v, ev| Row::new("DB", "eager loading", v, ev);
    let lists = list_routes(e);
    let seen: Vec<(String, f64)> = lists
        .iter()
        .filter_map(|path| {
            let totals = e.routes.get(&format!("GET {path}"))?;
            (totals.count > 0.0).then(|| (path.clone(), totals.mean_statements()))
        })
        .collect();
    if seen.is_empty() {
        return row(
            Verdict::Unknown,
            format!("no traffic on the list routes ({})", lists.join(", ")),
        );
    }
    let over: Vec<String> = seen
        .iter()
        .filter(|(_, mean)| *mean > args.list_statements)
        .map(|(p, mean)| format!("{p}: {mean:.1}"))
        .collect();
    if over.is_empty() {
        let all: Vec<String> = seen.iter().map(|(p, m)| format!("{p}: {m:.1}")).collect();
        return row(
            Verdict::Pass,
            format!(
                "list routes at ≤ {} statements: {}",
                args.list_statements,
                all.join(", ")
            ),
        );
    }
    row(
        Verdict::Fail,
        format!(
            "list routes over {} statements: {}",
            args.list_statements,
            over.join(", ")
        ),
    )
    .fix("load each relation of the page in one query (belonging_to + grouped_by)")
}

fn indexes(e: &Evidence, args: &DoctorArgs) -> Row {
    let row = |v, ev| Row::new("DB", "indexes", v, ev);
    let top = match &e.statements {
        Err(err) => return row(Verdict::Unknown, err.clone()),
        Ok(top) if top.is_empty() => {
            return row(
                Verdict::Unknown,
                "no statements of this database in pg_stat_statements yet: run traffic".into(),
            )
        }
        Ok(top) => top,
    };
    let total: f64 = top.iter().map(|s| s.total_ms).sum();
    let mut suspects = Vec::new();
    for s in top {
        for scan in s.scans.iter().flatten() {
            let share = scan.kept_rows / scan.table_rows.max(1.0);
            if scan.table_rows >= args.seq_scan_rows as f64 && share <= args.seq_scan_share {
                suspects.push(format!(
                    "{} ({:.0} rows, the filter keeps ~{:.0}) in \"{}\" ({:.0} % of the top statements' time, {} calls)",
                    scan.table,
                    scan.table_rows,
                    scan.kept_rows,
                    one_line(&s.query, 120),
                    100.0 * s.total_ms / total.max(f64::EPSILON),
                    s.calls
                ));
            }
        }
    }
    let unplanned = top.iter().filter(|s| s.scans.is_err()).count();
    let planned = top.len() - unplanned;
    if !suspects.is_empty() {
        return row(
            Verdict::Fail,
            format!("sequential scans: {}", suspects.join("; ")),
        )
        .fix("index the filtered columns of those tables (CREATE INDEX CONCURRENTLY)");
    }
    row(
        Verdict::Pass,
        format!(
            "{planned} top statement(s) by total time planned generically ({unplanned} could not be): \
             no filtering sequential scan keeping ≤ {:.0} % of a table above {} rows",
            100.0 * args.seq_scan_share,
            args.seq_scan_rows
        ),
    )
}

/// A statement on one line, cut to about `max` characters: a long select list gives
/// way to the part that names the tables (`SELECT … FROM …`).
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let from = flat.to_ascii_uppercase().find(" FROM ");
    let flat = match (flat.split_once(' '), from) {
        (Some((verb, _)), Some(at)) if flat.len() > max && at > verb.len() + 1 => {
            format!("{verb} …{}", &flat[at..])
        }
        _ => flat,
    };
    match flat.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

fn budget(e: &Evidence, args: &DoctorArgs) -> Row {
    let row = |v, ev| Row::new("DB", "connection budget", v, ev);
    let pool: Option<u32> = e.setting("pool_size").and_then(|v| v.parse().ok());
    let processes = e
        .setting("processes")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(e.scraped.max(1) as u32)
        .max(e.scraped as u32);
    let (Some(pool), Ok(bouncer), Ok(pg)) = (pool, &e.pgbouncer, &e.postgres) else {
        let why = match (&e.pgbouncer, &e.postgres) {
            (Err(b), _) => format!("PgBouncer: {b}"),
            (_, Err(p)) => format!("PostgreSQL: {p}"),
            _ => "no brisk_config_info in /metrics".into(),
        };
        return row(Verdict::Unknown, why);
    };
    let need = pool * processes;
    let bouncer_pool = match bouncer.max_db_connections {
        0 => bouncer.default_pool_size,
        cap => cap.min(bouncer.default_pool_size),
    };
    let server_side = bouncer_pool + bouncer.reserve_pool_size + args.db_reserve;
    let available = pg.max_connections.saturating_sub(pg.superuser_reserved);
    let evidence = format!(
        "pool {pool} × {processes} process(es) = {need} ≤ PgBouncer pool {bouncer_pool}; \
         PgBouncer {bouncer_pool} + reserve {} + other clients {} = {server_side} ≤ max_connections {} − {} reserved = {available}",
        bouncer.reserve_pool_size, args.db_reserve, pg.max_connections, pg.superuser_reserved
    );
    if need > bouncer_pool {
        return row(Verdict::Fail, evidence.replacen(" ≤ ", " > ", 1)).fix(
            "lower --pool-size or raise PgBouncer's default_pool_size so pool × processes fits",
        );
    }
    if server_side > available {
        let evidence = evidence.replacen(" ≤ max_connections", " > max_connections", 1);
        return row(Verdict::Fail, evidence)
            .fix("lower PgBouncer's pool or raise PostgreSQL's max_connections");
    }
    row(Verdict::Pass, evidence)
}

fn recycling(e: &Evidence) -> Row {
    let row = |v, ev| Row::new("DB", "pre-ping and recycle", v, ev);
    let (Some(life), Some(idle), Some(ping)) = (
        e.setting("pool_max_lifetime_seconds"),
        e.setting("pool_idle_timeout_seconds"),
        e.setting("pool_test_on_checkout"),
    ) else {
        return row(Verdict::Unknown, "no brisk_config_info in /metrics".into());
    };
    let evidence =
        format!("max lifetime {life} s, idle timeout {idle} s, checked on check-out: {ping}");
    if life == "0" || idle == "0" || ping != "true" {
        return row(Verdict::Fail, evidence)
            .fix("set --db-max-lifetime and --db-idle-timeout above 0");
    }
    row(Verdict::Pass, evidence)
}

fn pgbouncer_in_path(e: &Evidence) -> Row {
    let row = |v, ev| Row::new("DB", "PgBouncer in the path", v, ev);
    match &e.pgbouncer {
        Err(err) => row(Verdict::Unknown, format!("PgBouncer: {err}")),
        Ok(b) if b.clients > 0 => row(
            Verdict::Pass,
            format!(
                "{} client connection(s) to {} in PgBouncer's SHOW CLIENTS",
                b.clients, b.database
            ),
        ),
        Ok(b) if e.requests() == 0.0 => row(
            Verdict::Unknown,
            format!("no clients of {} yet and no traffic", b.database),
        ),
        Ok(b) => row(
            Verdict::Fail,
            format!(
                "served traffic but no client of {} in PgBouncer",
                b.database
            ),
        )
        .fix("point --database-url at PgBouncer (port 6432), not at PostgreSQL"),
    }
}

fn lists_capped(e: &Evidence) -> Row {
    let row = |v, ev| Row::new("DB", "lists capped", v, ev);
    let Ok(doc) = &e.openapi else {
        return row(Verdict::Unknown, "no /openapi.json".into());
    };
    let mut uncapped = vec![];
    let mut capped = vec![];
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for p in item["get"]["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or("");
            if matches!(name, "per_page" | "limit") {
                match page_cap(p) {
                    Some(cap) => capped.push(format!("{path} {name} ≤ {cap}")),
                    None => uncapped.push(format!("{path} {name}")),
                }
            }
        }
    }
    if !uncapped.is_empty() {
        return row(
            Verdict::Fail,
            format!("no maximum: {}", uncapped.join(", ")),
        )
        .fix("clamp the page size of those routes and declare the maximum");
    }
    row(Verdict::Pass, capped.join(", "))
}

/// The documented cap of a page-size parameter: the "clamped to N" of its
/// description (larger values are clamped, not refused), else a schema maximum of at
/// most 1,000 (a maximum as large as a million caps nothing).
fn page_cap(param: &serde_json::Value) -> Option<u64> {
    let description = param["description"].as_str().unwrap_or("");
    let clamped = description.split("clamped to ").nth(1).and_then(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    });
    clamped.or_else(|| param["schema"]["maximum"].as_u64().filter(|&m| m <= 1000))
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn a_long_statement_is_shown_from_the_tables_it_reads() {
        let long = format!(
            "SELECT {} FROM \"order_items\" WHERE \"order_items\".\"order_id\" = ANY($1)",
            ["\"order_items\".\"quantity\""; 10].join(", ")
        );
        assert_eq!(
            one_line(&long, 120),
            "SELECT … FROM \"order_items\" WHERE \"order_items\".\"order_id\" = ANY($1)"
        );
        assert_eq!(one_line("SELECT 1\n  FROM t", 120), "SELECT 1 FROM t");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}
