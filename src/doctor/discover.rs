//! Which processes the doctor reads: the `--ops` URLs when given; otherwise every
//! process the deployment's registry in Redis (`brisk_kit::peers`) lists as alive, so
//! `make doctor` against `make cluster` reads each process behind nginx; otherwise
//! (no registry, Redis unreachable, nobody registered) the front door.

use crate::config::DoctorArgs;
use brisk_kit::peers::registry::{now_ms, Registry};
use brisk_kit::peers::{DEFAULT_RETENTION, DEFAULT_TTL};
use brisk_kit::redis::Redis;

/// The operations URLs to scrape and where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// Base URLs without trailing slashes.
    pub urls: Vec<String>,
    /// `--ops`, `the registry in Redis` or `the front door`, for the evidence.
    pub source: String,
}

/// The processes to read (see the module doc).
pub async fn targets(args: &DoctorArgs) -> Targets {
    if !args.ops.is_empty() {
        return Targets {
            urls: trimmed(args.ops.clone()),
            source: "--ops".into(),
        };
    }
    match registered(args).await {
        Ok(urls) if !urls.is_empty() => Targets {
            urls,
            source: "the registry in Redis".into(),
        },
        Ok(_) => front_door(args, "no process registered in Redis"),
        Err(err) => front_door(args, &format!("the registry could not be read ({err})")),
    }
}

fn front_door(args: &DoctorArgs, why: &str) -> Targets {
    Targets {
        urls: trimmed(vec![args.url.clone()]),
        source: format!("the front door: {why}"),
    }
}

fn trimmed(urls: Vec<String>) -> Vec<String> {
    urls.into_iter()
        .map(|u| u.trim_end_matches('/').to_string())
        .collect()
}

/// The operations URLs of the processes whose heartbeat is younger than the
/// registry's TTL, in registration order.
async fn registered(args: &DoctorArgs) -> Result<Vec<String>, String> {
    let redis = Redis::new(&args.redis_config()).map_err(|e| e.to_string())?;
    let entries = Registry::new(redis, DEFAULT_RETENTION).entries().await?;
    let alive_since = now_ms().saturating_sub(DEFAULT_TTL.as_millis() as u64);
    let mut urls: Vec<String> = entries
        .into_iter()
        .filter(|e| e.heartbeat_ms >= alive_since)
        .map(|e| format!("http://{}", e.member.ops))
        .collect();
    urls.sort();
    urls.dedup();
    Ok(urls)
}
