//! Test support shared by the unit tests and the API tests (`tests/api`), built only
//! for tests (`cfg(test)`) or with the `testing` feature, which the crate's own
//! dev-dependency on itself turns on: a TCP proxy that a test cuts, hangs or
//! restores in front of a real service (the real service is never stopped), and the
//! unique Redis key prefix that keeps tests apart without flushing anything.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{copy_bidirectional, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The machine's Redis, which every test shares under its own prefix.
pub const REDIS_ADDR: &str = "127.0.0.1:6379";

/// Set to a Redis Cluster's seed nodes (`redis://127.0.0.1:7001,…`), the tests that
/// use the shared Redis run on that cluster instead (`make test-redis-cluster`).
pub const CLUSTER_ENV: &str = "BRISK_TEST_REDIS_CLUSTER";

/// The settings of the Redis the tests share: the machine's one server, or the
/// cluster [`CLUSTER_ENV`] names.
pub fn shared_redis(prefix: &str, timeout: std::time::Duration) -> crate::redis::RedisConfig {
    let cluster = std::env::var(CLUSTER_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty());
    crate::redis::RedisConfig {
        url: cluster
            .clone()
            .unwrap_or_else(|| format!("redis://{REDIS_ADDR}")),
        cluster: cluster.is_some(),
        timeout,
        prefix: prefix.to_string(),
    }
}

/// A key prefix no other test uses (`test-<uuid>`): tests never see each other's keys.
pub fn unique_prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4())
}

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward to the upstream.
    Forward,
    /// Close every connection at once (the upstream is unreachable).
    Refuse,
    /// Accept and never answer (the upstream hung: calls time out).
    Blackhole,
    /// Open connections die at their next use (the client's next bytes are swallowed
    /// and the connection closed, as when a server went away unnoticed); new ones are
    /// forwarded.
    Stale,
}

/// A TCP proxy on 127.0.0.1:<port> in front of a real service. Changing the mode
/// drops every open connection, like a network cut.
pub struct TcpProxy {
    /// The port the proxy listens on.
    pub port: u16,
    mode: Arc<watch::Sender<Mode>>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// A proxy in front of the machine's Redis.
    pub async fn start() -> Self {
        Self::start_to(REDIS_ADDR.parse().expect("redis address")).await
    }

    /// A proxy in front of `upstream`, forwarding until told otherwise.
    pub async fn start_to(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let mode = Arc::new(watch::channel(Mode::Forward).0);
        let task = tokio::spawn(accept_loop(listener, upstream, mode.clone()));
        Self { port, mode, task }
    }

    /// `redis://127.0.0.1:<port>`, for a proxy in front of Redis.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Switches every connection, open or new, to `mode`.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Cuts (true: [`Mode::Refuse`]) or restores (false: [`Mode::Forward`]) the way.
    pub fn set_cut(&self, cut: bool) {
        self.set(if cut { Mode::Refuse } else { Mode::Forward });
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, mode: Arc<watch::Sender<Mode>>) {
    while let Ok((client, _)) = listener.accept().await {
        let mut rx = mode.subscribe();
        let current = *rx.borrow_and_update();
        tokio::spawn(async move {
            match current {
                Mode::Refuse => drop(client),
                Mode::Blackhole => {
                    let _hold = client;
                    let _ = rx.changed().await;
                }
                Mode::Forward | Mode::Stale => {
                    let mut client = client;
                    let Ok(mut upstream) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let stale = tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut upstream) => false,
                        _ = rx.changed() => *rx.borrow() == Mode::Stale,
                    };
                    if stale {
                        // Answers already on their way still arrive (a call in flight
                        // must not hang); the client's next bytes end the connection.
                        let (mut client_read, mut client_write) = client.split();
                        let (mut upstream_read, _) = upstream.split();
                        let mut next = [0u8; 1];
                        tokio::select! {
                            _ = tokio::io::copy(&mut upstream_read, &mut client_write) => {}
                            _ = client_read.read(&mut next) => {}
                        }
                    }
                }
            }
        });
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        // Wake every connection task so it drops its sockets.
        self.mode.send_replace(Mode::Refuse);
    }
}
