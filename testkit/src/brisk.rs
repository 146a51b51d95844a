//! `brisk serve` as an OS process of its own, on a free port, for the tests that
//! need a real process (signals, exit status, two processes at once). The binary's
//! path is the caller's: `CARGO_BIN_EXE_brisk` exists only in the root package's
//! integration tests.

use crate::process::Proc;
use crate::wait::poll_until;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Where a brisk process connects.
#[derive(Clone, Debug)]
pub struct Target {
    /// The database URL it serves from (PgBouncer).
    pub database_url: String,
    /// The direct PostgreSQL URL of the same database.
    pub direct_url: String,
    /// Its Redis.
    pub redis_url: String,
    /// Its Redis key prefix (unique per test).
    pub redis_prefix: String,
}

/// A running `brisk serve`.
pub struct Brisk {
    /// The process.
    pub proc: Proc,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Brisk {
    /// Starts `bin serve` on a free port with the suites' defaults (2 workers, pool
    /// of 8, no access log, no budget check) replaced or extended by `extra`, its log
    /// in `dir/name.log`, and waits for its "listening" line.
    pub fn start(bin: &str, dir: &Path, name: &str, target: &Target, extra: &[String]) -> Brisk {
        Brisk::start_with_env(bin, dir, name, target, extra, &[])
    }

    /// [`Brisk::start`] with extra environment variables.
    pub fn start_with_env(
        bin: &str,
        dir: &Path,
        name: &str,
        target: &Target,
        extra: &[String],
        env: &[(&str, &str)],
    ) -> Brisk {
        let defaults = [
            ("--bind", "127.0.0.1:0"),
            ("--workers", "2"),
            ("--secret", "test-secret"),
            ("--pool-size", "8"),
            ("--database-url", &target.database_url),
            ("--direct-database-url", &target.direct_url),
            ("--redis-url", &target.redis_url),
            ("--redis-prefix", &target.redis_prefix),
            ("--access-log", "false"),
        ];
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--skip-budget-check"]);
        // A flag may be given once: `extra` replaces the default of the same name.
        for (flag, value) in defaults {
            if !extra.iter().any(|e| e == flag) {
                cmd.args([flag, value]);
            }
        }
        cmd.args(extra).env("RUST_LOG", "info");
        cmd.envs(env.iter().copied());
        let mut proc = Proc::spawn(&mut cmd, dir.join(format!("{name}.log")));
        let mut port = None;
        let started = poll_until(Duration::from_secs(60), || {
            port = listening_port(&proc.log_text());
            port.is_some() || proc.exited().is_some()
        });
        let Some(port) = port.filter(|_| started) else {
            panic!("brisk did not start: {}", proc.log_text());
        };
        Brisk {
            proc,
            port,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The port of its operations listener (`--admin-bind`), from its log; `None`
    /// without one.
    pub fn admin_port(&self) -> Option<u16> {
        port_after(&self.proc.log_text(), "operations endpoints on ")
    }
}

/// The port of the first "brisk listening on ADDR" line of a log.
fn listening_port(log: &str) -> Option<u16> {
    port_after(log, "brisk listening on ")
}

/// The port of the address after `marker` on the first line holding it.
fn port_after(log: &str, marker: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains(marker))?;
    let addr = line.split(marker).nth(1)?;
    let addr = addr.split_whitespace().next()?;
    addr.rsplit(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{listening_port, port_after};

    #[test]
    fn the_port_is_read_from_the_listening_line_only() {
        let log = "[INFO] starting\n[INFO] brisk listening on 127.0.0.1:40123 (2 workers)\n";
        assert_eq!(listening_port(log), Some(40123));
        assert_eq!(listening_port("[INFO] starting\n"), None);
        let ops = "[INFO] operations endpoints on 127.0.0.1:9091\n";
        assert_eq!(port_after(ops, "operations endpoints on "), Some(9091));
    }
}
