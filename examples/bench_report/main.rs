//! `make bench` helper (driven by `scripts/bench.sh` and `scripts/bench-compare.sh`):
//!
//! - `bench_report stampede <base-url> <api-key> <product-id> <n>`: fires `n` concurrent
//!   requests for one cold product summary and prints, as one JSON line, how many SQL
//!   statements and cache misses they caused (read from `/metrics` before and after).
//! - `bench_report report <results.jsonl> <out-dir>`: writes `report.md` and SVG plots
//!   (`rps.svg`, `latency.svg`, `workers.svg`) drawn with plotters.
//! - `bench_report compare <results.jsonl> <out-dir> <before-label> <after-label>`: writes
//!   `compare.md`, the two builds' medians over alternated rounds, their ratio and spread.

mod ceilings;
mod compare;
mod doctor;
mod plots;
mod report;
mod runs;
mod scale;
mod stampede;

use std::path::Path;

const USAGE: &str = "usage: bench_report stampede <base-url> <api-key> <product-id> <n> \
    | report <results.jsonl> <out-dir> \
    | compare <results.jsonl> <out-dir> <before-label> <after-label>";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("stampede") if args.len() == 5 => {
            stampede::stampede(&args[1], &args[2], &args[3], &args[4])
        }
        Some("report") if args.len() == 3 => {
            report::report(Path::new(&args[1]), Path::new(&args[2]))
        }
        Some("compare") if args.len() == 5 => {
            compare::compare(Path::new(&args[1]), Path::new(&args[2]), &args[3], &args[4])
        }
        _ => Err(USAGE.into()),
    };
    if let Err(e) = outcome {
        eprintln!("bench_report: {e}");
        std::process::exit(1);
    }
}
