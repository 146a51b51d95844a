//! The real binary: SIGTERM lets a request in flight finish, then the process exits.

use crate::helpers::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_for_port(port: u16, deadline: Instant) {
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "brisk did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns (status, body).
fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn sigterm_drains_the_request_in_flight_then_exits() {
    let db = fresh_database();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args([
            "serve",
            "--workers",
            "1",
            "--skip-budget-check",
            "--shutdown-timeout-secs",
            "10",
        ])
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--database-url")
        .arg(format!("{BOUNCER}/{db}"))
        .arg("--redis-prefix")
        .arg(brisk::testing::unique_prefix())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start brisk");
    wait_for_port(port, Instant::now() + Duration::from_secs(30));

    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    // A first request makes sure a worker owns this connection.
    writer
        .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader).0, 200);

    // Start a login whose body is still on its way; the server's `100 Continue`
    // proves it is handling the request. Then ask the server to stop.
    let body = br#"{"email":"admin@tenant1.example","password":"password"}"#;
    let head = format!(
        "POST /api/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    writer.write_all(head.as_bytes()).unwrap();
    writer.flush().unwrap();
    let mut continue_line = String::new();
    reader.read_line(&mut continue_line).unwrap();
    assert!(
        continue_line.starts_with("HTTP/1.1 100"),
        "{continue_line:?}"
    );
    let mut blank = String::new();
    reader.read_line(&mut blank).unwrap();
    writer.write_all(&body[..10]).unwrap();
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    writer.write_all(&body[10..]).unwrap();
    let (status, text) = read_response(&mut reader);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"token\""), "{text}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "brisk did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
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
