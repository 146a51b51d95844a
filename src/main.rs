//! The `brisk` binary: parses the command line and wires the order application
//! into the kit; no logic here.

use brisk::config::{parse_cli, Command, ServeArgs};
use brisk::order_api;

/// jemalloc, not glibc's malloc: measured in docs/BENCHMARKS.md ("Allocator").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let cli = parse_cli();
    let outcome = match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(*args),
        Some(Command::Migrate(args)) => brisk::db::migrate::run_cli(&args.direct_database_url),
        Some(Command::Seed(args)) => brisk::db::seed::run_cli(&args.seed_config()),
        Some(Command::CheckBudget(args)) => {
            brisk_kit::db::budget::run_cli(&args.database.budget_config())
        }
        Some(Command::Doctor(args)) => brisk::doctor::run_cli(&args),
    };
    if let Err(message) = outcome {
        eprintln!("brisk: {message}");
        std::process::exit(1);
    }
}

/// `brisk serve`: the order API on the kit.
fn serve(args: ServeArgs) -> Result<(), String> {
    if args.uses_dev_secret() {
        eprintln!("brisk: BRISK_SECRET is the development default: set it (the same in every process) in production");
    }
    let api = args.order_api_config();
    brisk_kit::startup::serve(args.kit_config(), move |services| {
        order_api::mount(services, api)
    })
}
