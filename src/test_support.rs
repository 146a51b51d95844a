//! Shared by the unit tests of several subsystems: a TCP proxy in front of the
//! machine's Redis that a test cuts, hangs and restores (the real Redis is never
//! stopped).

use std::sync::Arc;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

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
