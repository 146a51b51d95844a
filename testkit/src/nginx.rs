//! nginx (Debian's) in the foreground as a child process, in front of brisk servers
//! on loopback, with a configuration rendered from a template such as
//! `deploy/nginx.conf`: its pid, logs and temporary files in a directory of its own.

use crate::process::{free_port, port_open, Proc};
use crate::wait::poll_until;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// An nginx on a free loopback port, stopped (SIGTERM, so its workers exit with it)
/// when dropped.
pub struct Nginx {
    proc: Proc,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Its directory (`-p`): configuration, pid, logs.
    pub prefix: PathBuf,
}

impl Nginx {
    /// Renders `template` into `prefix/nginx.conf` and starts nginx on it, once it
    /// accepts connections. The template's placeholders: `@PREFIX@` (its directory),
    /// `@LISTEN@` (its address) and `@UPSTREAMS@` (one `server 127.0.0.1:PORT
    /// max_fails=0;` per port of `upstreams`).
    pub fn start(prefix: &Path, template: &str, upstreams: &[u16]) -> Nginx {
        std::fs::create_dir_all(prefix.join("tmp")).expect("create nginx's directory");
        std::fs::create_dir_all(prefix.join("logs")).expect("create nginx's log directory");
        let port = free_port();
        let servers: String = upstreams
            .iter()
            .map(|p| format!("server 127.0.0.1:{p} max_fails=0; "))
            .collect();
        let config = template
            .replace("@PREFIX@", &prefix.display().to_string())
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@UPSTREAMS@", &servers);
        let conf = prefix.join("nginx.conf");
        std::fs::write(&conf, config).expect("write nginx.conf");
        let mut cmd = Command::new("nginx");
        cmd.arg("-p").arg(prefix).arg("-c").arg(&conf);
        cmd.args(["-g", "daemon off;"]);
        let mut proc = Proc::spawn(&mut cmd, prefix.join("nginx.out"));
        let up = poll_until(Duration::from_secs(30), || {
            port_open(port) || proc.exited().is_some()
        });
        assert!(
            up && proc.exited().is_none(),
            "nginx did not start: {}",
            proc.log_text()
        );
        Nginx {
            proc,
            port,
            prefix: prefix.to_path_buf(),
        }
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The master's process id.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master stops its workers on SIGTERM (a SIGKILL would orphan them).
        let _ = Command::new("kill")
            .args(["-TERM", &self.proc.pid().to_string()])
            .status();
        self.proc.wait_exit(Duration::from_secs(10));
    }
}
