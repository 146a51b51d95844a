//! `brisk doctor`: a running deployment held against the performance checklist
//! (measure → database → cache → limits → workers → compression → transfer, and three
//! rows a deployment gets wrong), one line per row with a verdict, its evidence and,
//! on ✘ or !, the fix. It reads live state (the processes' `/metrics`, their
//! `brisk_config_info`, the OpenAPI document, PostgreSQL, PgBouncer's admin console,
//! Redis) and sends a few probes (failed logins to reach a 429, a spoofed
//! `X-Forwarded-For`, a compressed request), never load: rows that need traffic say
//! `?` on an idle deployment.

mod cache_rows;
mod data_rows;
mod discover;
mod evidence;
mod limit_rows;
mod probes;
mod report;
mod services;
mod serving_rows;
mod statements;

pub use report::{Row, Verdict};

use crate::config::DoctorArgs;

/// Runs the checks and prints the report; `Err` (exit status 1) when a row is ✘.
pub fn run_cli(args: &DoctorArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("doctor: {e}"))?;
    let evidence = runtime.block_on(evidence::gather(args));
    let rows = check(&evidence, args);
    print!("{}", report::render(&rows, args.json));
    let failed = rows.iter().filter(|r| r.verdict == Verdict::Fail).count();
    match failed {
        0 => Ok(()),
        n => Err(format!("doctor: {n} row(s) failed")),
    }
}

/// Every row, in the checklist's order.
pub fn check(e: &evidence::Evidence, args: &DoctorArgs) -> Vec<Row> {
    let mut rows = data_rows::measure_and_database(e, args);
    rows.extend(serving_rows::cache_limits_and_the_rest(e, args));
    rows
}
