//! A private PgBouncer (session mode, like `deploy/pgbouncer.ini`) in front of the
//! machine's PostgreSQL, for tests that stop or restart it. It runs as the
//! `postgres` user: PgBouncer refuses to run as root.

use crate::process::{free_port, port_open, signal, Proc};
use crate::wait::poll_until;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A private PgBouncer; killed and its directory removed when dropped.
pub struct PgBouncer {
    /// The process while it runs.
    pub proc: Option<Proc>,
    /// Its port (kept across restarts).
    pub port: u16,
    dir: PathBuf,
    log_dir: PathBuf,
    starts: u32,
}

impl PgBouncer {
    /// Writes its configuration (at most `pool_size` server connections per
    /// database), starts it and waits until it accepts connections. Its logs go to
    /// `log_dir/pgbouncer-N.log`, one per start.
    pub fn start(log_dir: &Path, pool_size: u32) -> PgBouncer {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("brisk-pgbouncer-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the PgBouncer directory");
        std::fs::write(dir.join("pgbouncer.ini"), ini(port, pool_size, &dir))
            .expect("write pgbouncer.ini");
        std::fs::write(
            dir.join("userlist.txt"),
            "\"root\" \"\"\n\"postgres\" \"\"\n",
        )
        .expect("write userlist.txt");
        let mut bouncer = PgBouncer {
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

    /// SIGTERM (PgBouncer 1.18: immediate shutdown) and wait for the exit and the
    /// port to close.
    pub fn terminate(&mut self) {
        if let Some(mut p) = self.proc.take() {
            signal(p.pid(), "TERM");
            if p.wait_exit(Duration::from_secs(5)).is_none() {
                p.kill();
            }
        }
        let port = self.port;
        assert!(
            poll_until(Duration::from_secs(10), || !port_open(port)),
            "pgbouncer on {port} did not stop"
        );
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ini(port: u16, pool_size: u32, dir: &Path) -> String {
    format!(
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
    )
}

/// The `postgres` user's uid and gid, from `/etc/passwd`.
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
