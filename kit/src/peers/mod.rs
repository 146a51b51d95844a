//! The processes of one deployment, seen from any of them: each process registers
//! itself in Redis ([`registry`]: its operations address, pid and start time, under
//! one hash-tagged key, refreshed by a heartbeat with a TTL, removed when it drains),
//! and the live page's cluster view ([`view`]) asks every registered process for its
//! histograms over their operations listeners (`/dashboard/snapshot.json`) and merges
//! them: every process, answering or not, and the cluster's quantiles per route from
//! the summed histogram buckets.
//!
//! The heartbeat is one task per process ([`Peers::run_heartbeat`], started by
//! `startup`), stopped by the drain: it removes the process from the registry as
//! soon as SIGTERM arrives. With the memory store there is no shared Redis: the
//! cluster view is this process alone.

pub mod registry;
pub mod view;

use crate::drain::Drain;
use crate::metrics::Metrics;
use crate::redis::Redis;
use registry::{now_ms, Member, Registry};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How often a process renews its registration.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(2);
/// A process whose last heartbeat is older than this is not live.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);
/// A process silent this long leaves the registry (until then it is shown, not answering).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(300);
/// How long the cluster view waits for one process's histograms.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the heartbeat task looks at the drain between heartbeats.
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// Settings of the registry and the cluster view.
#[derive(Debug, Clone)]
pub struct PeersConfig {
    /// See [`DEFAULT_HEARTBEAT`].
    pub heartbeat: Duration,
    /// See [`DEFAULT_TTL`].
    pub ttl: Duration,
    /// See [`DEFAULT_RETENTION`].
    pub retention: Duration,
    /// See [`DEFAULT_FETCH_TIMEOUT`].
    pub fetch_timeout: Duration,
    /// The `host:port` other processes reach this one's operations endpoints at;
    /// `None`: the bound address (loopback when bound to every interface).
    pub advertise: Option<String>,
}

impl Default for PeersConfig {
    fn default() -> Self {
        Self {
            heartbeat: DEFAULT_HEARTBEAT,
            ttl: DEFAULT_TTL,
            retention: DEFAULT_RETENTION,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            advertise: None,
        }
    }
}

/// This process's place in the deployment: its registration and its view of the
/// others. Cheap to clone.
#[derive(Clone)]
pub struct Peers {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` without shared Redis (the memory store).
    registry: Option<Registry>,
    me: OnceLock<Member>,
    metrics: Metrics,
    http: reqwest::Client,
    config: PeersConfig,
}

impl Peers {
    /// The peers of a process with these metrics; `redis` is the shared store (`None`:
    /// no registry). Registers nothing until [`Peers::set_address`] and the heartbeat.
    pub fn new(redis: Option<Redis>, metrics: Metrics, config: PeersConfig) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(config.fetch_timeout)
            .connect_timeout(config.fetch_timeout)
            .build()
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                registry: redis.map(|r| Registry::new(r, config.retention)),
                me: OnceLock::new(),
                metrics,
                http,
                config,
            }),
        }
    }

    /// Sets this process's identity from its bound operations address (once).
    pub fn set_address(&self, bound: SocketAddr) {
        let ops = self.inner.config.advertise.clone().unwrap_or_else(|| {
            let ip = match bound.ip() {
                ip if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
                ip => ip,
            };
            SocketAddr::new(ip, bound.port()).to_string()
        });
        let _ = self.inner.me.set(Member {
            ops,
            pid: std::process::id(),
            started_unix_ms: self.inner.metrics.started_unix_ms(),
        });
    }

    /// This process as registered (`None` before [`Peers::set_address`]).
    pub fn me(&self) -> Option<&Member> {
        self.inner.me.get()
    }

    /// The registry, when there is shared Redis.
    pub fn registry(&self) -> Option<&Registry> {
        self.inner.registry.as_ref()
    }

    /// Renews this process's registration now.
    pub async fn beat(&self) -> Result<(), String> {
        match (self.registry(), self.me()) {
            (Some(registry), Some(me)) => registry.beat(me, now_ms()).await,
            _ => Ok(()),
        }
    }

    /// Removes this process from the registry (best effort: logged, not returned).
    pub async fn deregister(&self) {
        if let (Some(registry), Some(me)) = (self.registry(), self.me()) {
            if let Err(e) = registry.remove(me).await {
                log::warn!("could not leave the process registry: {e}");
            }
        }
    }

    /// Beats every heartbeat interval until the drain starts, then deregisters. A
    /// failing heartbeat is logged once per outage, not once per beat.
    pub async fn run_heartbeat(self, drain: Drain) {
        if self.registry().is_none() {
            return;
        }
        let mut next = Instant::now();
        let mut failing = false;
        while !drain.is_draining() {
            if Instant::now() >= next {
                next = Instant::now() + self.inner.config.heartbeat;
                match self.beat().await {
                    Ok(()) if failing => {
                        log::info!("process registry reachable again");
                        failing = false;
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        log::warn!("process registry heartbeat failed: {e}");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
            tokio::time::sleep(DRAIN_POLL).await;
        }
        self.deregister().await;
    }
}
