//! A private `redis-server` (no persistence) on a port of its own, for tests that
//! stop, pause or restart Redis without touching the machine's shared one.

use crate::process::{free_port, signal, Proc};
use crate::wait::poll_until;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A private Redis; killed when dropped.
pub struct Redis {
    /// The process while it runs.
    pub proc: Option<Proc>,
    /// Its port (kept across restarts).
    pub port: u16,
    dir: PathBuf,
    starts: u32,
}

impl Redis {
    /// A Redis on a free port that is not started yet ([`Redis::restart`] starts it).
    pub fn unstarted(dir: &Path) -> Redis {
        Redis {
            proc: None,
            port: free_port(),
            dir: dir.to_path_buf(),
            starts: 0,
        }
    }

    /// Starts Redis on a free port and waits for `PING`.
    pub fn start(dir: &Path) -> Redis {
        let mut redis = Redis::unstarted(dir);
        redis.restart();
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts it on its port and waits until it answers; each start logs to
    /// `redis-N.log` in its directory.
    pub fn restart(&mut self) {
        self.starts += 1;
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir);
        let log = self.dir.join(format!("redis-{}.log", self.starts));
        self.proc = Some(Proc::spawn(&mut cmd, log));
        let port = self.port;
        assert!(
            poll_until(Duration::from_secs(10), || self.cli(&["PING"]) == "PONG"),
            "redis-server on {port} did not answer"
        );
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Sends a signal (STOP, CONT) to the running server.
    pub fn signal(&self, sig: &str) {
        let pid = self.proc.as_ref().expect("redis is running").pid();
        signal(pid, sig);
    }

    /// Runs `redis-cli` against it; its trimmed output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}
