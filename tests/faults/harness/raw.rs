//! Raw sockets for what an HTTP client library will not do on purpose: send a
//! request and walk away, reset a connection mid-body, or dribble headers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bytes of an HTTP/1.1 request with a bearer key and an optional JSON body.
pub fn request(
    method: &str,
    port: u16,
    path: &str,
    key: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Vec<u8> {
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(b) = body {
        text.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        text.push_str("\r\n");
    }
    text.into_bytes()
}

/// Connects to 127.0.0.1:`port` and writes `bytes`; the open stream.
pub async fn send(port: u16, bytes: &[u8]) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(bytes).await?;
    stream.flush().await?;
    Ok(stream)
}

/// Sends `bytes`, waits `after`, then closes the socket without reading a byte.
pub async fn send_and_drop(port: u16, bytes: &[u8], after: Duration) -> std::io::Result<()> {
    let stream = send(port, bytes).await?;
    tokio::time::sleep(after).await;
    drop(stream);
    Ok(())
}

/// Reads from `stream` until `limit` bytes came (or EOF, or `timeout`); how many,
/// and the first line of the answer (its status line).
pub async fn read_at_least(
    stream: &mut TcpStream,
    limit: usize,
    timeout: Duration,
) -> (usize, String) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut head = Vec::new();
    let mut total = 0;
    let _ = tokio::time::timeout(timeout, async {
        while total < limit {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if head.len() < 512 {
                        head.extend_from_slice(&buf[..n.min(512)]);
                    }
                    total += n;
                }
            }
        }
    })
    .await;
    let head = String::from_utf8_lossy(&head);
    (total, head.lines().next().unwrap_or("").to_string())
}

/// Closes with a TCP reset (SO_LINGER 0) instead of a FIN.
#[expect(
    deprecated,
    reason = "SO_LINGER 0 is the point here: drop sends a reset at once and never blocks"
)]
pub fn reset(stream: TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// One slowloris connection: request headers, one byte per `every`, for at most
/// `bytes` bytes or until `until` passes or the server closes it. True when the
/// server closed it (a header timeout), false when it was still open at the end.
/// `connected` counts the connections made, so the caller can wait for them.
pub async fn slowloris(
    port: u16,
    every: Duration,
    until: tokio::time::Instant,
    connected: &AtomicUsize,
) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return true;
    };
    connected.fetch_add(1, Ordering::Relaxed);
    let head = format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ");
    for b in head.bytes().chain(std::iter::repeat(b'a')).take(4096) {
        if tokio::time::Instant::now() >= until {
            return false;
        }
        if stream.write_all(&[b]).await.is_err() {
            return true;
        }
        tokio::time::sleep(every).await;
    }
    false
}
