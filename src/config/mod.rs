//! Typed settings, one file per subsystem. clap is the only reader of the
//! environment: every flag has an environment fallback and shows in `--help`.

pub mod api;
pub mod cache;
pub mod database;
pub mod doctor;
pub mod kit;
pub mod metrics;
pub mod ratelimit;
pub mod redis;
pub mod server;

use clap::{Args, Parser, Subcommand};

pub use api::ApiArgs;
pub use cache::CacheArgs;
pub use database::{DatabaseArgs, MigrateArgs, SeedArgs};
pub use doctor::DoctorArgs;
pub use metrics::MetricsArgs;
pub use ratelimit::RateLimitArgs;
pub use redis::RedisArgs;
pub use server::{LogFormat, ServerArgs};

/// The `brisk` command line.
#[derive(Debug, Parser)]
#[command(
    name = "brisk",
    version,
    about = "A multi-worker application server for read-heavy APIs",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `brisk [flags]` is `brisk serve [flags]`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What the binary does; `serve` when none is given.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve(Box<ServeArgs>),
    /// Create the database if missing and run pending migrations (direct connection).
    Migrate(MigrateArgs),
    /// Fill an empty database with the standard data set (direct connection).
    Seed(SeedArgs),
    /// Check pool size × processes against PgBouncer and PostgreSQL, then exit.
    CheckBudget(Box<ServeArgs>),
    /// Check a running deployment against the performance checklist, one row per line.
    Doctor(Box<DoctorArgs>),
}

/// Everything `serve` needs, grouped by subsystem.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub ratelimit: RateLimitArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Parses the command line; a bad value prints one line naming the flag and exits 2.
pub fn parse_cli() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                e.exit()
            }
            _ => {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or("invalid arguments");
                eprintln!("{first}");
                std::process::exit(2);
            }
        },
    }
}

impl ServeArgs {
    /// Settings from the environment and defaults alone (bare `brisk`, and tests).
    pub fn from_env_and_defaults() -> Self {
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            serve: ServeArgs,
        }
        match Wrapper::try_parse_from(["brisk"]) {
            Ok(w) => w.serve,
            Err(e) => {
                let text = e.render().to_string();
                eprintln!("{}", text.lines().next().unwrap_or("invalid environment"));
                std::process::exit(2);
            }
        }
    }
}
