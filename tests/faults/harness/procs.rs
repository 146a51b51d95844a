//! Child processes: the brisk binary, a private Redis and a private PgBouncer,
//! each on a free loopback port with its files in the scenario's directory.
//! Dropping a handle kills the process (SIGKILL) and reaps it, so a failed
//! scenario leaves nothing running.

use brisk_testkit::wait::poll_until;
use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// A free loopback port (bound, read, released: a race only with other binders).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// Sends `sig` (`TERM`, `KILL`, `STOP`, `CONT`) to `pid` with kill(1).
pub fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {pid} failed");
}

/// Resident memory of `pid` in KiB, from `/proc/PID/status` (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}

/// A child process killed and reaped on drop.
pub struct Proc {
    child: Option<Child>,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Proc {
    fn spawn(cmd: &mut Command, log: PathBuf) -> Proc {
        let out = File::create(&log).expect("create a process log");
        let err = out.try_clone().expect("clone the log handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        Proc {
            child: Some(child),
            log,
        }
    }

    /// A handle with no process (what is left after taking one out of a struct).
    pub fn none() -> Proc {
        Proc {
            child: None,
            log: PathBuf::new(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Its exit status if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        poll_until(timeout, || {
            status = self.exited();
            status.is_some()
        });
        status
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The log written so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The brisk binary under test: `cargo test --release` builds the release one.
pub fn brisk_bin() -> &'static str {
    env!("CARGO_BIN_EXE_brisk")
}

/// Where a brisk child connects.
#[derive(Clone, Debug)]
pub struct Target {
    /// The database URL it serves from (PgBouncer).
    pub database_url: String,
    /// The direct PostgreSQL URL of the same database.
    pub direct_url: String,
    /// Its Redis.
    pub redis_url: String,
    /// Its Redis key prefix (unique per scenario).
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
    /// Starts `brisk serve` on a free port with the suite's defaults (2 workers,
    /// pool of 8, no access log) replaced or extended by `extra`, and waits for
    /// its "listening" line.
    pub fn start(dir: &Path, name: &str, target: &Target, extra: &[String]) -> Brisk {
        Brisk::start_with_env(dir, name, target, extra, &[])
    }

    /// [`Brisk::start`] with extra environment variables.
    pub fn start_with_env(
        dir: &Path,
        name: &str,
        target: &Target,
        extra: &[String],
        env: &[(&str, &str)],
    ) -> Brisk {
        let defaults = [
            ("--bind", "127.0.0.1:0"),
            ("--workers", "2"),
            ("--secret", "faults-secret"),
            ("--pool-size", "8"),
            ("--database-url", &target.database_url),
            ("--direct-database-url", &target.direct_url),
            ("--redis-url", &target.redis_url),
            ("--redis-prefix", &target.redis_prefix),
            ("--access-log", "false"),
        ];
        let mut cmd = Command::new(brisk_bin());
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
}

fn listening_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("brisk listening on "))?;
    let addr = line.split("brisk listening on ").nth(1)?;
    let addr = addr.split_whitespace().next()?;
    addr.rsplit(':').next()?.parse().ok()
}

/// A private `redis-server` (no persistence) on its own port.
pub struct Redis {
    /// The process while it runs.
    pub proc: Option<Proc>,
    /// Its port (kept across restarts).
    pub port: u16,
    dir: PathBuf,
    starts: u32,
}

impl Redis {
    /// A Redis on a free port that is not started yet (`start` starts it).
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

    /// (Re)starts it on its port and waits until it answers.
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

/// A private PgBouncer (session mode, like deploy/pgbouncer.ini) in front of the
/// shared PostgreSQL, run as the `postgres` user (PgBouncer refuses root).
pub struct Bouncer {
    /// The process while it runs.
    pub proc: Option<Proc>,
    /// Its port (kept across restarts).
    pub port: u16,
    dir: PathBuf,
    log_dir: PathBuf,
    starts: u32,
}

impl Bouncer {
    /// Writes its config (pool of `pool_size` per database) and starts it.
    pub fn start(log_dir: &Path, pool_size: u32) -> Bouncer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("brisk-faults-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the PgBouncer directory");
        let ini = format!(
            "[databases]\n* = host=127.0.0.1 port=5432\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {users}\nadmin_users = root\n\
             pool_mode = session\nserver_reset_query = DISCARD ALL\n\
             default_pool_size = {pool_size}\nmax_client_conn = 1000\n\
             max_db_connections = {pool_size}\nserver_login_retry = 1\n\
             server_connect_timeout = 5\nquery_wait_timeout = 30\n\
             server_idle_timeout = 10\n\
             ignore_startup_parameters = extra_float_digits,options\n",
            users = dir.join("userlist.txt").display()
        );
        std::fs::write(dir.join("pgbouncer.ini"), ini).expect("write pgbouncer.ini");
        std::fs::write(
            dir.join("userlist.txt"),
            "\"root\" \"\"\n\"postgres\" \"\"\n",
        )
        .expect("write userlist.txt");
        let mut bouncer = Bouncer {
            proc: None,
            port,
            dir,
            log_dir: log_dir.to_path_buf(),
            starts: 0,
        };
        bouncer.restart();
        bouncer
    }

    /// `postgres://root@127.0.0.1:PORT/db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://root@127.0.0.1:{}/{db}", self.port)
    }

    /// (Re)starts it on its port and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.starts += 1;
        let (uid, gid) = postgres_ids();
        let mut cmd = Command::new("pgbouncer");
        cmd.arg(self.dir.join("pgbouncer.ini")).uid(uid).gid(gid);
        let log = self.log_dir.join(format!("pgbouncer-{}.log", self.starts));
        self.proc = Some(Proc::spawn(&mut cmd, log));
        let port = self.port;
        assert!(
            poll_until(Duration::from_secs(10), || port_open(port)),
            "pgbouncer on {port} did not start"
        );
    }

    /// SIGTERM (PgBouncer 1.18: immediate shutdown) and wait for the exit.
    pub fn terminate(&mut self) {
        if let Some(mut p) = self.proc.take() {
            signal(p.pid(), "TERM");
            if p.wait_exit(Duration::from_secs(5)).is_none() {
                p.kill();
            }
        }
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn postgres_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .expect("a postgres user (PgBouncer refuses to run as root)");
    let fields: Vec<&str> = line.split(':').collect();
    (
        fields[2].parse().expect("postgres uid"),
        fields[3].parse().expect("postgres gid"),
    )
}
