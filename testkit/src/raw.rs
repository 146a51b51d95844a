//! Raw HTTP/1.1 over a real socket, for what a client library hides or will not do
//! on purpose: stalled heads and bodies, keep-alive reuse, bytes the server must
//! refuse, a request sent and walked away from, a reset mid-body, dribbled headers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// One response as read off the socket.
#[derive(Debug)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body (as framed by `Content-Length`).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A client connection that writes exactly the bytes it is given.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    /// Connects to 127.0.0.1:`port` (no Nagle delay).
    pub async fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes `bytes` as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads more bytes; false on end of stream (or a reset).
    async fn fill(&mut self, deadline: Instant) -> bool {
        let mut chunk = [0u8; 4096];
        match timeout(
            deadline.saturating_duration_since(Instant::now()),
            self.stream.read(&mut chunk),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => panic!("nothing from the server in time"),
        }
    }

    /// Closes the connection with a reset (RST), as a client that gives up does.
    pub fn reset(self) {
        self.stream.set_zero_linger().expect("SO_LINGER 0");
    }

    /// The next response's status line and headers, read within `within`, taking no
    /// body (the answer to `HEAD`); `None` when the server closes first.
    pub async fn head_response(&mut self, within: Duration) -> Option<RawResponse> {
        let deadline = Instant::now() + within;
        let (status, headers, head_end) = self.head(deadline).await?;
        self.buf.drain(..head_end);
        Some(RawResponse {
            status,
            headers,
            body: Vec::new(),
        })
    }

    /// Reads up to the end of the next head: its status, headers and length in bytes.
    async fn head(&mut self, deadline: Instant) -> Option<(u16, Vec<(String, String)>, usize)> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill(deadline).await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Some((status, headers, head_end))
    }

    /// The next response, read within `within`; `None` when the server closes first.
    /// Panics when neither happens in time.
    pub async fn response(&mut self, within: Duration) -> Option<RawResponse> {
        let deadline = Instant::now() + within;
        let (status, headers, head_end) = self.head(deadline).await?;
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while self.buf.len() < head_end + length {
            if !self.fill(deadline).await {
                break;
            }
        }
        let end = (head_end + length).min(self.buf.len());
        let body = self.buf[head_end..end].to_vec();
        self.buf.drain(..end);
        Some(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// True when the server closes the connection within `within` (nothing else sent).
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut chunk = [0u8; 1024];
        loop {
            match timeout(
                deadline.saturating_duration_since(Instant::now()),
                self.stream.read(&mut chunk),
            )
            .await
            {
                Ok(Ok(0)) | Ok(Err(_)) => return self.buf.is_empty(),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return false,
            }
        }
    }
}

/// `GET path` with keep-alive.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: brisk\r\n\r\n").into_bytes()
}

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

/// Reads from `stream` until `limit` bytes came (or EOF, or `within` passed); how many,
/// and the first line of the answer (its status line).
pub async fn read_at_least(
    stream: &mut TcpStream,
    limit: usize,
    within: Duration,
) -> (usize, String) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut head = Vec::new();
    let mut total = 0;
    let _ = timeout(within, async {
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
pub fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
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
