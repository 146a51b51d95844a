//! What the measurement subsystem can be told: [`MetricsConfig`] (the middleware
//! switch and the live page's history window) and [`AccessLogSettings`] (the access
//! log and its warnings). Their defaults are the named consts below, written once;
//! `config/metrics.rs` turns the `serve` flags into these structs, and nothing in
//! `metrics` reads flags.

use std::time::Duration;

/// A request slower than this logs a warning.
pub const DEFAULT_SLOW_REQUEST: Duration = Duration::from_millis(500);
/// A request running more statements than this logs the N+1 warning.
pub const DEFAULT_STATEMENT_WARN_THRESHOLD: u64 = 10;
/// Width of one point of the live page's history.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Points of history kept (60 × 5 s = the last five minutes).
pub const DEFAULT_HISTORY: usize = 60;

/// Settings of the measurement subsystem.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// Wrap the application in `RequestMetrics` (`false` only to measure its cost).
    pub middleware: bool,
    /// Width of one point of the live page's history.
    pub interval: Duration,
    /// Points of history kept for the live page.
    pub history: usize,
    /// The access log and its warnings.
    pub access_log: AccessLogSettings,
    /// Send `Server-Timing` (statements, database and total time) with every response
    /// (off by default: it tells every client the server's internals; needs `middleware`).
    pub server_timing: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            middleware: true,
            interval: DEFAULT_INTERVAL,
            history: DEFAULT_HISTORY,
            access_log: AccessLogSettings::default(),
            server_timing: false,
        }
    }
}

/// How the access log is written and when it warns.
#[derive(Debug, Clone)]
pub struct AccessLogSettings {
    /// One info line per request (target `brisk::access`).
    pub enabled: bool,
    /// Lines as JSON objects instead of `key=value` text.
    pub json: bool,
    /// Warn when a request runs more statements than this (the N+1 alarm).
    pub statement_warn_threshold: u64,
    /// Warn when a request takes longer than this.
    pub slow_request: Duration,
}

impl Default for AccessLogSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            json: false,
            statement_warn_threshold: DEFAULT_STATEMENT_WARN_THRESHOLD,
            slow_request: DEFAULT_SLOW_REQUEST,
        }
    }
}
