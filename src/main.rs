//! The `brisk` binary: parses the command line and dispatches; no logic here.

use brisk::config::{parse_cli, Command};

fn main() {
    let cli = parse_cli();
    let outcome = match cli.command {
        None => brisk::startup::serve(cli.serve),
        Some(Command::Serve(args)) => brisk::startup::serve(*args),
        Some(Command::Migrate(args)) => brisk::db::migrate::run_cli(&args.direct_database_url),
        Some(Command::Seed(args)) => brisk::db::seed::run_cli(&args.seed_config()),
        Some(Command::CheckBudget(args)) => {
            brisk::db::budget::run_cli(&args.database.budget_config())
        }
    };
    if let Err(message) = outcome {
        eprintln!("brisk: {message}");
        std::process::exit(1);
    }
}
