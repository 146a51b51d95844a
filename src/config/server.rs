//! HTTP server settings.
//!
//! Environment: `BRISK_BIND`, `BRISK_WORKERS`, `BRISK_TRUSTED_HOPS`, `BRISK_LOG_FORMAT`,
//! `BRISK_SECRET`, `BRISK_SHUTDOWN_TIMEOUT_SECS`.

use clap::{Args, ValueEnum};
use std::net::SocketAddr;

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Development-only secret; `serve` warns when it is in use.
pub const DEV_SECRET: &str = "brisk-dev-secret-change-me";

/// How the access log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "BRISK_BIND", default_value = DEFAULT_BIND)]
    pub bind: SocketAddr,
    /// HTTP worker threads in this process (default: the number of cores).
    #[arg(long, env = "BRISK_WORKERS", default_value_t = default_workers(), value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: u16,
    /// Reverse-proxy hops trusted to append to X-Forwarded-For (0: use the TCP peer).
    #[arg(long, env = "BRISK_TRUSTED_HOPS", default_value_t = 0)]
    pub trusted_hops: u8,
    /// Access log format.
    #[arg(long, env = "BRISK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Secret that signs pagination cursors; every process of a deployment needs the same one.
    #[arg(long, env = "BRISK_SECRET", default_value = DEV_SECRET, hide_default_value = true)]
    pub secret: String,
    /// Seconds SIGTERM waits for in-flight requests before exiting.
    #[arg(long, env = "BRISK_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
}

fn default_workers() -> u16 {
    std::thread::available_parallelism()
        .map(|n| n.get().min(1024) as u16)
        .unwrap_or(1)
}
