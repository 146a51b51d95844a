//! The cluster's live page data, built by whichever process is asked:
//!
//! - `GET /dashboard/snapshot.json`: this process's histograms ([`Snapshot`]), what
//!   the others fetch;
//! - `GET /dashboard/cluster.json`: every registered process (this one included, even
//!   when Redis is down) with its state, and per route the cluster's count and
//!   p50/p95/p99 from the summed histogram buckets of the processes that answered. A
//!   process that does not answer is listed as `unreachable` (and counted nowhere); one
//!   whose address now answers with another process (it restarted without
//!   deregistering) as `replaced`;
//! - `GET /dashboard/peer.json?ops=HOST:PORT`: one registered process's own page data
//!   (its `/dashboard/data.json`), fetched by this process, so the page can show any
//!   process's view through whichever process serves it. Only registered addresses
//!   are fetched.
//!
//! All on the operations listener, like `/dashboard`.

use super::registry::{now_ms, Entry, Member};
use super::Peers;
use crate::http::error::ApiError;
use crate::metrics::snapshot::{merge, MergedRoute, Snapshot};
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

/// `/dashboard/cluster.json`.
#[derive(Debug, Serialize)]
pub struct ClusterView {
    /// `ok`: the registry was read; `error`: Redis did not answer (only this process
    /// is listed); `off`: no shared Redis (the memory store).
    pub registry: &'static str,
    /// Seconds after which a process's heartbeat is late.
    pub ttl_secs: f64,
    /// Every registered process, by address, this one included.
    pub processes: Vec<ProcessView>,
    /// The cluster's routes, sorted; `per_process` aligned with `processes`.
    pub routes: Vec<MergedRoute>,
}

/// One process as the cluster view shows it.
#[derive(Debug, Serialize)]
pub struct ProcessView {
    /// Its operations address.
    pub ops: String,
    /// Its process id.
    pub pid: u32,
    /// When it started, Unix ms.
    pub started_unix_ms: u64,
    /// The process that built this view.
    pub this: bool,
    /// `ok`, `unreachable` or `replaced`.
    pub state: &'static str,
    /// Why it is not `ok`.
    pub error: Option<String>,
    /// Seconds since its last heartbeat (`None`: not in the registry).
    pub heartbeat_age_secs: Option<f64>,
    /// Heartbeat within the TTL.
    pub live: bool,
    /// Seconds since it started (from its answer).
    pub uptime_secs: Option<f64>,
    /// Requests it is handling now (from its answer).
    pub in_flight: Option<i64>,
    /// Requests it answered since start, every route (from its answer).
    pub requests: Option<u64>,
}

/// Registers the three endpoints, each carrying its own `Data<Peers>`.
pub fn endpoints(peers: Peers) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let data = web::Data::new(peers);
        cfg.service(
            web::resource("/dashboard/snapshot.json")
                .app_data(data.clone())
                .route(web::get().to(snapshot)),
        )
        .service(
            web::resource("/dashboard/cluster.json")
                .app_data(data.clone())
                .route(web::get().to(cluster)),
        )
        .service(
            web::resource("/dashboard/peer.json")
                .app_data(data)
                .route(web::get().to(peer)),
        );
    }
}

fn no_store() -> CacheControl {
    CacheControl(vec![CacheDirective::NoStore])
}

async fn snapshot(peers: web::Data<Peers>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(no_store())
        .json(peers.inner.metrics.snapshot())
}

async fn cluster(peers: web::Data<Peers>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(no_store())
        .json(peers.cluster_view().await)
}

/// The query of `/dashboard/peer.json`.
#[derive(Debug, Deserialize)]
pub struct PeerQuery {
    /// The process's operations address, as registered.
    pub ops: Option<String>,
}

async fn peer(
    peers: web::Data<Peers>,
    query: web::Query<PeerQuery>,
) -> Result<HttpResponse, ApiError> {
    let ops = query
        .into_inner()
        .ops
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("ops", "name a process by its operations address"))?;
    let (_, entries) = peers.entries().await;
    let known = entries.iter().any(|(e, _)| e.member.ops == ops);
    if !known {
        return Err(ApiError::not_found(
            "no registered process has that address",
        ));
    }
    if peers.me().is_some_and(|me| me.ops == ops) {
        return Ok(HttpResponse::Ok()
            .insert_header(no_store())
            .json(peers.inner.metrics.dashboard()));
    }
    let unavailable = || ApiError::Unavailable {
        detail: format!("process {ops} did not answer"),
        retry_after_secs: 1,
    };
    let url = format!("http://{ops}/dashboard/data.json");
    let resp = peers.inner.http.get(url).send().await;
    let resp = resp.ok().filter(|r| r.status().is_success());
    let body = match resp {
        Some(r) => r.bytes().await.map_err(|_| unavailable())?,
        None => return Err(unavailable()),
    };
    Ok(HttpResponse::Ok()
        .insert_header(no_store())
        .content_type("application/json")
        .body(body))
}

/// What one process's row is made of before it is shown.
struct Fetched {
    entry: Entry,
    registered: bool,
    result: Result<Snapshot, (&'static str, String)>,
}

impl Peers {
    /// The registry's state word and its entries, this process added when missing
    /// (so the page always lists the process that answered it).
    async fn entries(&self) -> (&'static str, Vec<(Entry, bool)>) {
        let (state, mut entries) = match self.registry() {
            None => ("off", Vec::new()),
            Some(r) => match r.entries().await {
                Ok(v) => ("ok", v),
                Err(e) => {
                    log::warn!("cannot read the process registry: {e}");
                    ("error", Vec::new())
                }
            },
        };
        let mut listed: Vec<(Entry, bool)> = entries.drain(..).map(|e| (e, true)).collect();
        if let Some(me) = self.me() {
            if !listed.iter().any(|(e, _)| &e.member == me) {
                let entry = Entry {
                    member: me.clone(),
                    heartbeat_ms: 0,
                };
                listed.push((entry, false));
            }
        }
        listed.sort_by(|(a, _), (b, _)| a.member.ops.cmp(&b.member.ops));
        (state, listed)
    }

    /// One process's snapshot: this one's from memory, another's over HTTP, checked
    /// to come from the registered process.
    async fn fetch(&self, member: &Member) -> Result<Snapshot, (&'static str, String)> {
        if self.me() == Some(member) {
            return Ok(self.inner.metrics.snapshot());
        }
        let url = format!("http://{}/dashboard/snapshot.json", member.ops);
        let unreachable = |e: reqwest::Error| {
            let why = if e.is_timeout() {
                "no answer in time"
            } else if e.is_connect() {
                "connection refused"
            } else {
                "unreadable answer"
            };
            ("unreachable", why.to_string())
        };
        let resp = self.inner.http.get(url).send().await.map_err(unreachable)?;
        if !resp.status().is_success() {
            return Err(("unreachable", format!("HTTP {}", resp.status().as_u16())));
        }
        let snap: Snapshot = resp.json().await.map_err(unreachable)?;
        if (snap.pid, snap.started_unix_ms) != (member.pid, member.started_unix_ms) {
            let now = format!("pid {} answers at {} now", snap.pid, member.ops);
            return Err(("replaced", now));
        }
        Ok(snap)
    }

    /// `/dashboard/cluster.json`: every process fetched at once, then merged.
    pub async fn cluster_view(&self) -> ClusterView {
        let (registry, entries) = self.entries().await;
        let fetches = entries.into_iter().map(|(entry, registered)| async move {
            let result = self.fetch(&entry.member).await;
            Fetched {
                entry,
                registered,
                result,
            }
        });
        let fetched: Vec<Fetched> = join_all(fetches).await;
        let snaps: Vec<Option<&Snapshot>> =
            fetched.iter().map(|f| f.result.as_ref().ok()).collect();
        let routes = merge(&snaps);
        let ttl = self.inner.config.ttl;
        let now = now_ms();
        let processes = fetched
            .iter()
            .map(|f| {
                let age = f
                    .registered
                    .then(|| now.saturating_sub(f.entry.heartbeat_ms) as f64 / 1000.0);
                let snap = f.result.as_ref().ok();
                let m = &f.entry.member;
                ProcessView {
                    ops: m.ops.clone(),
                    pid: m.pid,
                    started_unix_ms: m.started_unix_ms,
                    this: self.me() == Some(m),
                    state: f.result.as_ref().map_or_else(|(s, _)| *s, |_| "ok"),
                    error: f.result.as_ref().err().map(|(_, e)| e.clone()),
                    heartbeat_age_secs: age,
                    live: age.is_some_and(|a| a <= ttl.as_secs_f64()),
                    uptime_secs: snap.map(|s| s.uptime_secs),
                    in_flight: snap.map(|s| s.in_flight),
                    requests: snap.map(|s| s.routes.iter().map(|r| r.count).sum()),
                }
            })
            .collect();
        ClusterView {
            registry,
            ttl_secs: ttl.as_secs_f64(),
            processes,
            routes,
        }
    }
}
