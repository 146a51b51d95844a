//! Measurement settings: the metrics/access-log middleware, its warning thresholds and
//! the live page's history window.
//!
//! Environment: `BRISK_METRICS_MIDDLEWARE`, `BRISK_ACCESS_LOG`, `BRISK_SLOW_REQUEST_MS`,
//! `BRISK_STATEMENT_WARN_THRESHOLD`, `BRISK_METRICS_INTERVAL_SECS`,
//! `BRISK_METRICS_HISTORY`.

use super::server::LogFormat;
use brisk_kit::metrics::logging::LineFormat;
use brisk_kit::metrics::settings::{self, AccessLogSettings, MetricsConfig};
use clap::{ArgAction, Args};
use std::time::Duration;

// The defaults are the subsystem's (`metrics::settings`), in the units of the flags.
/// A request slower than this many milliseconds logs a warning.
pub const DEFAULT_SLOW_REQUEST_MS: u64 = settings::DEFAULT_SLOW_REQUEST.as_millis() as u64;
/// A request running more statements than this logs the N+1 warning.
pub const DEFAULT_STATEMENT_WARN_THRESHOLD: u64 = settings::DEFAULT_STATEMENT_WARN_THRESHOLD;
/// Seconds per point of the live page's history.
pub const DEFAULT_INTERVAL_SECS: u64 = settings::DEFAULT_INTERVAL.as_secs();
/// Points of history kept.
pub const DEFAULT_HISTORY: usize = settings::DEFAULT_HISTORY;

/// `brisk serve` flags of the measurement subsystem.
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Record per-route metrics and write the access log (`false` only to measure its cost).
    #[arg(long, env = "BRISK_METRICS_MIDDLEWARE", default_value_t = true, action = ArgAction::Set)]
    pub metrics_middleware: bool,
    /// Write one access-log line per request (info level, target `brisk::access`).
    #[arg(long, env = "BRISK_ACCESS_LOG", default_value_t = true, action = ArgAction::Set)]
    pub access_log: bool,
    /// Milliseconds above which a request logs a slow-request warning.
    #[arg(long, env = "BRISK_SLOW_REQUEST_MS", default_value_t = DEFAULT_SLOW_REQUEST_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub slow_request_ms: u64,
    /// Statements per request above which the access log warns (the N+1 alarm).
    #[arg(long, env = "BRISK_STATEMENT_WARN_THRESHOLD", default_value_t = DEFAULT_STATEMENT_WARN_THRESHOLD)]
    pub statement_warn_threshold: u64,
    /// Send `Server-Timing` (statements, database and total time) with every response;
    /// off by default, since it tells every client the server's internals.
    #[arg(long, env = "BRISK_SERVER_TIMING", default_value_t = false, action = ArgAction::Set)]
    pub server_timing: bool,
    /// Seconds per point of the live page's history.
    #[arg(long, env = "BRISK_METRICS_INTERVAL_SECS", default_value_t = DEFAULT_INTERVAL_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub metrics_interval_secs: u64,
    /// Points of history kept for the live page.
    #[arg(long, env = "BRISK_METRICS_HISTORY", default_value_t = DEFAULT_HISTORY, value_parser = parse_history)]
    pub metrics_history: usize,
}

impl MetricsArgs {
    /// `--slow-request-ms` as a duration.
    pub fn slow_request(&self) -> Duration {
        Duration::from_millis(self.slow_request_ms)
    }
    /// `--metrics-interval-secs` as a duration.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.metrics_interval_secs)
    }

    /// The access-log settings of these flags, lines in `format`.
    pub fn access_log_settings(&self, format: LogFormat) -> AccessLogSettings {
        AccessLogSettings {
            enabled: self.access_log,
            json: format == LogFormat::Json,
            statement_warn_threshold: self.statement_warn_threshold,
            slow_request: self.slow_request(),
        }
    }

    /// The measurement subsystem's settings from these flags.
    pub fn metrics_config(&self, format: LogFormat) -> MetricsConfig {
        MetricsConfig {
            middleware: self.metrics_middleware,
            interval: self.interval(),
            history: self.metrics_history,
            access_log: self.access_log_settings(format),
            server_timing: self.server_timing,
        }
    }
}

impl From<LogFormat> for LineFormat {
    fn from(format: LogFormat) -> Self {
        match format {
            LogFormat::Text => LineFormat::Text,
            LogFormat::Json => LineFormat::Json,
        }
    }
}

impl Default for MetricsArgs {
    fn default() -> Self {
        Self {
            metrics_middleware: true,
            access_log: true,
            server_timing: false,
            slow_request_ms: DEFAULT_SLOW_REQUEST_MS,
            statement_warn_threshold: DEFAULT_STATEMENT_WARN_THRESHOLD,
            metrics_interval_secs: DEFAULT_INTERVAL_SECS,
            metrics_history: DEFAULT_HISTORY,
        }
    }
}

/// `--metrics-history`: 1..=10000 points.
fn parse_history(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err(format!("history must be 1..=10000 points, got {raw:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_flags_give_the_subsystem_defaults() {
        let from_flags = MetricsArgs::default().metrics_config(LogFormat::Text);
        let default = MetricsConfig::default();
        assert_eq!(from_flags.middleware, default.middleware);
        assert_eq!(from_flags.interval, default.interval);
        assert_eq!(from_flags.history, default.history);
        let (a, b) = (from_flags.access_log, default.access_log);
        assert_eq!(
            (
                a.enabled,
                a.json,
                a.statement_warn_threshold,
                a.slow_request
            ),
            (
                b.enabled,
                b.json,
                b.statement_warn_threshold,
                b.slow_request
            )
        );
        let json = MetricsArgs::default().access_log_settings(LogFormat::Json);
        assert!(json.json);
    }
}
