//! The `brisk` binary: parses the command line and dispatches; no logic here.

use brisk::config::{parse_cli, Command};

fn main() {
    let cli = parse_cli();
    let outcome = match cli.command {
        None => brisk::startup::serve(cli.serve),
        Some(Command::Serve(args)) => brisk::startup::serve(*args),
        Some(Command::Migrate(args)) => brisk::db::migrate::run_cli(&args),
        Some(Command::Seed(args)) => brisk::db::seed::run_cli(&args),
        Some(Command::CheckBudget(args)) => brisk::db::budget::run_cli(&args),
    };
    if let Err(message) = outcome {
        eprintln!("brisk: {message}");
        std::process::exit(1);
    }
}
