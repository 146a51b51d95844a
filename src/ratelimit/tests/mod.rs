//! Tests of the limiter against the real Redis (127.0.0.1:6379): every test uses its own
//! key prefix, so tests never see each other's keys. Outages are made with a TCP proxy
//! in front of Redis that the test cuts and restores.

mod middleware;
mod outage;
mod redis_store;

use super::{Backend, Limiter, LimiterSettings, Policy, PolicySpec};
use crate::config::{RedisArgs, StoreKind};
use crate::metrics::events::Metrics;
use crate::redis::Redis;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

pub fn unique_prefix() -> String {
    format!("test-rl-{}", uuid::Uuid::new_v4().simple())
}

/// A Redis handle with its own prefix. On the direct URL the timeout is 2 s, so a
/// loaded test machine never turns a store test into a fallback test; outage tests go
/// through [`TcpProxy`] with the production default of 100 ms.
pub fn redis_at(url: &str, prefix: &str) -> Redis {
    Redis::new(&RedisArgs {
        redis_url: url.to_string(),
        redis_timeout_ms: if url == REDIS_URL { 2_000 } else { 100 },
        redis_prefix: prefix.to_string(),
        store: StoreKind::Redis,
    })
    .expect("a valid Redis URL")
}

/// A limiter on Redis at `url` with `spec`, 1 s breaker unless given.
pub fn limiter(
    url: &str,
    prefix: &str,
    spec: PolicySpec,
    settings: LimiterSettings,
) -> (Limiter, Metrics) {
    let metrics = Metrics::new();
    let limiter = Limiter::new(
        Policy::new(spec).expect("a valid policy"),
        Backend::Redis(redis_at(url, prefix)),
        settings,
        metrics.clone(),
    );
    (limiter, metrics)
}

/// Polls `cond` every 20 ms until it holds or `deadline` passes.
pub async fn eventually<F, Fut>(deadline: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward to Redis.
    Forward,
    /// Close every connection at once (Redis unreachable).
    Refuse,
    /// Accept and never answer (Redis hung: commands time out).
    Blackhole,
}

/// A TCP proxy on 127.0.0.1:<port> in front of the real Redis. Changing the mode drops
/// every open connection, like a network cut.
pub struct TcpProxy {
    pub port: u16,
    mode: Arc<watch::Sender<Mode>>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let (tx, _) = watch::channel(Mode::Forward);
        let mode = Arc::new(tx);
        let m = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut rx = m.subscribe();
                let current = *rx.borrow_and_update();
                tokio::spawn(async move {
                    match current {
                        Mode::Refuse => drop(client),
                        Mode::Blackhole => {
                            let _hold = client;
                            let _ = rx.changed().await;
                        }
                        Mode::Forward => {
                            let mut client = client;
                            let Ok(mut upstream) = TcpStream::connect("127.0.0.1:6379").await
                            else {
                                return;
                            };
                            tokio::select! {
                                _ = copy_bidirectional(&mut client, &mut upstream) => {}
                                _ = rx.changed() => {}
                            }
                        }
                    }
                });
            }
        });
        Self { port, mode, task }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        // Wake every connection task so it drops its sockets.
        self.mode.send_replace(Mode::Refuse);
    }
}
