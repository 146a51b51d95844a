//! The real binary as its own process: SIGTERM lets a request in flight finish and
//! answers a request written just after it on a kept-alive connection, then the process
//! exits 0; a bad flag stops start-up with one line naming it.

use crate::helpers::*;
use brisk_testkit::brisk::{Brisk, Target};
use brisk_testkit::process::signal;
use brisk_testkit::raw::{get, RawConn};
use std::process::Command;
use std::time::Duration;

/// `brisk serve` (one worker, a 10 s drain) as its own process on a fresh database
/// through PgBouncer, killed when dropped; its log in a temporary directory.
struct BriskProcess {
    brisk: Brisk,
    port: u16,
    _dir: TempDir,
}

impl BriskProcess {
    /// Starts it and waits for its "listening" line.
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`BriskProcess::start`] with more flags.
    async fn start_with(more: &[&str]) -> Self {
        let db = tokio::task::spawn_blocking(fresh_database).await.unwrap();
        let dir = TempDir::new();
        let target = Target {
            database_url: format!("{BOUNCER}/{db}"),
            direct_url: format!("{DIRECT}/{db}"),
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_prefix: brisk_kit::testing::unique_prefix(),
        };
        let mut extra = ["--workers", "1", "--shutdown-timeout-secs", "10"]
            .map(String::from)
            .to_vec();
        extra.extend(more.iter().map(|s| s.to_string()));
        let path = dir.0.clone();
        let brisk = tokio::task::spawn_blocking(move || {
            Brisk::start(env!("CARGO_BIN_EXE_brisk"), &path, "brisk", &target, &extra)
        })
        .await
        .unwrap();
        let port = brisk.port;
        Self {
            brisk,
            port,
            _dir: dir,
        }
    }

    fn sigterm(&self) {
        signal(self.brisk.pid(), "TERM");
    }

    /// Exited 0 (within 20 s) and no longer listening.
    async fn assert_stopped_cleanly(&mut self) {
        let exit = self.brisk.proc.wait_exit(Duration::from_secs(20));
        assert!(
            exit.is_some_and(|e| e.success()),
            "{exit:?}: {}",
            self.brisk.proc.log_text()
        );
        assert!(tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err());
    }
}

/// A temporary directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(brisk_testkit::template::scratch_name());
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const WITHIN: Duration = Duration::from_secs(30);

#[tokio::test]
async fn sigterm_drains_the_request_in_flight_then_exits() {
    let mut brisk = BriskProcess::start().await;
    let mut conn = RawConn::connect(brisk.port).await;
    // A first request makes sure a worker owns this connection.
    conn.send(&get("/health")).await;
    assert_eq!(conn.response(WITHIN).await.unwrap().status, 200);

    // Start a login whose body is still on its way; the server's `100 Continue`
    // proves it is handling the request. Then ask the server to stop.
    let rest = login_in_flight(&mut conn).await;
    brisk.sigterm();
    conn.send(rest).await;
    let login = conn.response(WITHIN).await.expect("the login was answered");
    assert_eq!(login.status, 200, "{:?}", login.json());
    assert!(login.json()["token"].is_string(), "{:?}", login.json());

    brisk.assert_stopped_cleanly().await;
}

#[tokio::test]
async fn a_request_written_on_a_keep_alive_connection_after_sigterm_is_answered() {
    let mut brisk = BriskProcess::start().await;
    let mut conn = RawConn::connect(brisk.port).await;
    conn.send(&get("/health")).await;
    let first = conn.response(WITHIN).await.unwrap();
    assert_eq!(first.status, 200);
    assert_ne!(first.header("connection"), Some("close"));

    // The connection is idle and kept alive when SIGTERM comes; the client writes
    // its next request a moment later, as a busy client would.
    brisk.sigterm();
    tokio::time::sleep(Duration::from_millis(50)).await;
    conn.send(&get("/health")).await;
    let after = conn
        .response(WITHIN)
        .await
        .expect("the request written after SIGTERM got no response (connection closed)");
    assert_eq!(after.status, 200);
    assert_eq!(after.header("connection"), Some("close"));
    assert!(String::from_utf8_lossy(&after.body).contains("ok"));

    brisk.assert_stopped_cleanly().await;
}

#[tokio::test]
async fn ready_answers_503_draining_from_sigterm_on_so_a_balancer_stops_sending() {
    let mut brisk = BriskProcess::start().await;
    let mut conn = RawConn::connect(brisk.port).await;
    conn.send(&get("/ready")).await;
    let before = conn.response(WITHIN).await.unwrap();
    assert_eq!(before.status, 200, "{:?}", before.json());
    assert_eq!(before.json()["status"], "ready");

    brisk.sigterm();
    // The probe's kept-alive connection asks again until the drain has begun (each
    // answer before it is a keep-alive 200; the first after it is the 503).
    let deadline = std::time::Instant::now() + WITHIN;
    let draining = loop {
        conn.send(&get("/ready")).await;
        let probe = conn.response(WITHIN).await.expect("the probe was answered");
        if probe.status != 200 {
            break probe;
        }
        assert!(std::time::Instant::now() < deadline, "never saw the drain");
    };
    assert_eq!(draining.status, 503, "{:?}", draining.json());
    assert_eq!(draining.json()["status"], "draining");
    assert_eq!(draining.json()["db"], "ok");
    brisk.assert_stopped_cleanly().await;
}

/// A login whose body is still on its way on `conn`: in flight until the rest is sent.
async fn login_in_flight(conn: &mut RawConn) -> &'static [u8] {
    let body = br#"{"email":"admin@tenant1.example","password":"password"}"#;
    let head = format!(
        "POST /api/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.send(head.as_bytes()).await;
    assert_eq!(conn.response(WITHIN).await.unwrap().status, 100);
    conn.send(&body[..10]).await;
    &body[10..]
}

#[tokio::test]
async fn the_operations_listener_answers_503_draining_while_the_api_listener_refuses() {
    let mut brisk = BriskProcess::start_with(&["--admin-bind", "127.0.0.1:0"]).await;
    let mut admin = None;
    brisk_testkit::wait::poll_until(WITHIN, || {
        admin = brisk.brisk.admin_port();
        admin.is_some()
    });
    let admin = admin.expect("the operations listener's port in the log");
    let mut probe = RawConn::connect(admin).await;
    probe.send(&get("/ready")).await;
    assert_eq!(probe.response(WITHIN).await.unwrap().status, 200);

    // A request in flight keeps the drain going while the probes ask.
    let mut conn = RawConn::connect(brisk.port).await;
    let rest = login_in_flight(&mut conn).await;
    brisk.sigterm();
    let api_port = brisk.port;
    let refused = brisk_testkit::wait::poll_until(WITHIN, || {
        std::net::TcpStream::connect(("127.0.0.1", api_port)).is_err()
    });
    assert!(refused, "the API listener still accepts after SIGTERM");
    // A load balancer's probe: a new connection to the operations listener.
    let mut fresh = RawConn::connect(admin).await;
    fresh.send(&get("/ready")).await;
    let draining = fresh
        .response(WITHIN)
        .await
        .expect("the probe was answered");
    assert_eq!(draining.status, 503, "{:?}", draining.json());
    assert_eq!(draining.json()["status"], "draining");

    conn.send(rest).await;
    let login = conn.response(WITHIN).await.expect("the login was answered");
    assert_eq!(login.status, 200, "{:?}", login.json());
    brisk.assert_stopped_cleanly().await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", admin))
            .await
            .is_err(),
        "the operations listener outlived the process"
    );
}

#[test]
fn a_bad_flag_stops_start_up_with_one_line_naming_it() {
    for (args, flag) in [
        (vec!["--workers", "0"], "--workers"),
        (
            vec!["serve", "--database-url", "not a url"],
            "--database-url",
        ),
        (vec!["--redis-url", "http://x"], "--redis-url"),
        (
            vec!["--rate-limit-free", "lots per minute"],
            "lots per minute",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_brisk"))
            .args(&args)
            .output()
            .expect("run brisk");
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(lines[0].contains(flag), "{args:?}: {stderr}");
    }
}
