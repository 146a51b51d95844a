//! Typed settings, one file per subsystem. clap is the only reader of the
//! environment: every flag has an environment fallback and shows in `--help`.

pub mod api;
pub mod cache;
pub mod database;
pub mod kit;
pub mod metrics;
pub mod ratelimit;
pub mod redis;
pub mod server;

use clap::{Args, Parser, Subcommand};

pub use api::ApiArgs;
pub use cache::CacheArgs;
pub use database::DatabaseArgs;
pub use metrics::MetricsArgs;
pub use ratelimit::RateLimitArgs;
pub use redis::{RedisArgs, StoreKind};
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

/// `brisk migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Direct PostgreSQL URL (not through PgBouncer) used for migrations.
    #[arg(long, env = "BRISK_DIRECT_DATABASE_URL", default_value = database::DEFAULT_DIRECT_URL, value_parser = database::parse_pg_url)]
    pub direct_database_url: String,
}

/// `brisk seed`.
#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Direct PostgreSQL URL (not through PgBouncer) used for the bulk load.
    #[arg(long, env = "BRISK_DIRECT_DATABASE_URL", default_value = database::DEFAULT_DIRECT_URL, value_parser = database::parse_pg_url)]
    pub direct_database_url: String,
    /// Scale factor S: 1,000×S customers and products, 50,000×S orders per tenant.
    #[arg(long, default_value_t = crate::db::seed::DEFAULT_SCALE, value_parser = parse_scale)]
    pub scale: f64,
    /// End of the 365-day order window (RFC 3339); default: the current UTC hour.
    #[arg(long)]
    pub anchor: Option<chrono::DateTime<chrono::Utc>>,
    /// Seed only when the database has no tenants (used by `make run`).
    #[arg(long)]
    pub if_empty: bool,
}

fn parse_scale(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 100.0 => Ok(s),
        _ => Err(format!("scale must be a number in (0, 100], got {raw:?}")),
    }
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
