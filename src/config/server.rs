//! HTTP server settings.
//!
//! Environment: `BRISK_BIND`, `BRISK_ADMIN_BIND`, `BRISK_WORKERS`, `BRISK_TRUSTED_HOPS`,
//! `BRISK_LOG_FORMAT`, `BRISK_SECRET`, `BRISK_SHUTDOWN_TIMEOUT_SECS`,
//! `BRISK_HEADER_TIMEOUT_MS`, `BRISK_BODY_TIMEOUT_MS`.

use brisk_kit::startup::{DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT};
use clap::{Args, ValueEnum};
use std::net::SocketAddr;

const DEFAULT_HEADER_TIMEOUT_MS: u64 = DEFAULT_HEADER_TIMEOUT.as_millis() as u64;
const DEFAULT_BODY_TIMEOUT_MS: u64 = DEFAULT_BODY_TIMEOUT.as_millis() as u64;

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
    /// Address of a second listener for the operations endpoints (`/metrics`,
    /// `/dashboard`, `/ready`, `/docs`, `/openapi.json`), which the API listener then
    /// answers 404; default: they are served on the API listener.
    #[arg(long, env = "BRISK_ADMIN_BIND")]
    pub admin_bind: Option<SocketAddr>,
    /// `host:port` at which the other processes of the deployment (and `brisk doctor`)
    /// reach this one's operations endpoints, as registered in Redis; default: the
    /// operations listener's bound address (loopback when bound to every interface).
    /// Set it on a deployment of several hosts.
    #[arg(long, env = "BRISK_ADVERTISE", value_parser = parse_advertise)]
    pub advertise: Option<String>,
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
    /// Milliseconds a request head may take from its first byte (on every request of
    /// a keep-alive connection) before a 408.
    #[arg(long, env = "BRISK_HEADER_TIMEOUT_MS", default_value_t = DEFAULT_HEADER_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,
    /// Milliseconds a request body may take after its head before a 408 that closes
    /// the connection.
    #[arg(long, env = "BRISK_BODY_TIMEOUT_MS", default_value_t = DEFAULT_BODY_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: u64,
    /// Compress responses for clients that accept it (gzip, br); `false` only to
    /// measure its cost or behind a proxy that compresses.
    #[arg(long, env = "BRISK_COMPRESSION", default_value_t = true, action = clap::ArgAction::Set)]
    pub compression: bool,
}

fn default_workers() -> u16 {
    std::thread::available_parallelism()
        .map(|n| n.get().min(1024) as u16)
        .unwrap_or(1)
}

/// `--advertise`: a `host:port` with a port, the host a name or an address.
fn parse_advertise(raw: &str) -> Result<String, String> {
    let (host, port) = raw
        .rsplit_once(':')
        .ok_or_else(|| format!("expected host:port, got {raw:?}"))?;
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-[]:".contains(&b));
    match (host_ok, port.parse::<u16>()) {
        (true, Ok(p)) if p > 0 => Ok(raw.to_string()),
        _ => Err(format!("expected host:port, got {raw:?}")),
    }
}
