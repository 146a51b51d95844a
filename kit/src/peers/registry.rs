//! The process registry in Redis: one sorted set, `<prefix>:v1:procs:{procs}`, whose
//! members are the processes (their operations address, pid and start time, as JSON)
//! and whose scores are each one's last heartbeat (Unix ms). One key, one hash tag:
//! on a Redis Cluster the whole registry lives on one slot, and listing it is one
//! `ZRANGE`, with no `SCAN` across nodes.
//!
//! A heartbeat re-adds the process (a new score), drops members whose last heartbeat is
//! older than the retention and renews the key's own expiry, so a registry nobody
//! beats for the retention disappears. A member whose heartbeat is older than the TTL
//! is not live; it stays listed (and is shown, as not answering) until the retention
//! drops it, so a process that died without deregistering does not vanish silently.
//! A draining process removes itself.

use crate::redis::{keys, Redis};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The kind segment (and hash tag) of the registry's key.
pub const KIND: &str = "procs";

/// A process as registered: how to reach its operations endpoints, and its identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// `host:port` of its operations endpoints (`/dashboard/snapshot.json`, `/metrics`).
    pub ops: String,
    /// Its process id.
    pub pid: u32,
    /// When it started, Unix ms.
    pub started_unix_ms: u64,
}

/// A registered process and when it last beat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The process.
    pub member: Member,
    /// Its last heartbeat, Unix ms.
    pub heartbeat_ms: u64,
}

/// The registry of one deployment (one key prefix).
#[derive(Clone)]
pub struct Registry {
    redis: Redis,
    key: String,
    retention: Duration,
}

impl Registry {
    /// The registry of `redis`'s key prefix; members older than `retention` are dropped.
    pub fn new(redis: Redis, retention: Duration) -> Self {
        let key = keys::key(redis.prefix(), KIND, KIND, "");
        Self {
            redis,
            key,
            retention,
        }
    }

    /// The registry's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Registers `member` as alive at `now_ms` (and forgets the long gone).
    pub async fn beat(&self, member: &Member, now_ms: u64) -> Result<(), String> {
        let json = serde_json::to_string(member).map_err(|e| e.to_string())?;
        let retention = self.retention.as_millis() as u64;
        let mut pipe = redis::pipe();
        pipe.zadd(&self.key, json, now_ms)
            .ignore()
            .zrembyscore(&self.key, "-inf", now_ms.saturating_sub(retention) as f64)
            .ignore()
            .pexpire(&self.key, retention as i64)
            .ignore();
        self.bounded(pipe.query_async::<()>(&mut self.redis.conn()))
            .await
    }

    /// Removes `member` (a draining or stopping process).
    pub async fn remove(&self, member: &Member) -> Result<(), String> {
        let json = serde_json::to_string(member).map_err(|e| e.to_string())?;
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(&self.key).arg(json);
        self.bounded(cmd.query_async::<()>(&mut self.redis.conn()))
            .await
    }

    /// Every registered process, oldest heartbeat first (unreadable members skipped).
    pub async fn entries(&self) -> Result<Vec<Entry>, String> {
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(&self.key).arg(0).arg(-1).arg("WITHSCORES");
        let raw: Vec<(String, f64)> = self
            .bounded(cmd.query_async(&mut self.redis.conn()))
            .await?;
        Ok(raw
            .into_iter()
            .filter_map(|(json, score)| {
                let member = serde_json::from_str(&json).ok()?;
                Some(Entry {
                    member,
                    heartbeat_ms: score as u64,
                })
            })
            .collect())
    }

    /// `call` within the Redis handle's command timeout, its error as text.
    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.redis.timeout(), call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(format!("redis: {e}")),
            Err(_) => Err("redis: timed out".into()),
        }
    }
}

/// Now, Unix ms.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(retention: Duration) -> Registry {
        let prefix = crate::testing::unique_prefix();
        let config = crate::testing::shared_redis(&prefix, Duration::from_millis(500));
        Registry::new(Redis::new(&config).unwrap(), retention)
    }

    fn member(port: u16) -> Member {
        Member {
            ops: format!("127.0.0.1:{port}"),
            pid: u32::from(port),
            started_unix_ms: 1,
        }
    }

    #[tokio::test]
    async fn processes_register_beat_and_leave_under_one_hash_tagged_key() {
        let r = registry(Duration::from_secs(60));
        assert!(r.key().ends_with(":v1:procs:{procs}"), "{}", r.key());
        let (a, b) = (member(9091), member(9092));
        let now = now_ms();
        r.beat(&a, now - 5_000).await.unwrap();
        r.beat(&b, now - 1_000).await.unwrap();
        let seen = r.entries().await.unwrap();
        assert_eq!(seen.iter().map(|e| &e.member).collect::<Vec<_>>(), [&a, &b]);
        // A new heartbeat moves the member, it does not add one.
        r.beat(&a, now).await.unwrap();
        let seen = r.entries().await.unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!((&seen[1].member, seen[1].heartbeat_ms), (&a, now));
        r.remove(&a).await.unwrap();
        let seen = r.entries().await.unwrap();
        assert_eq!(seen.iter().map(|e| &e.member).collect::<Vec<_>>(), [&b]);
    }

    #[tokio::test]
    async fn a_heartbeat_drops_members_silent_for_longer_than_the_retention() {
        let r = registry(Duration::from_secs(60));
        let now = now_ms();
        r.beat(&member(1), now - 61_000).await.unwrap();
        r.beat(&member(2), now - 59_000).await.unwrap();
        r.beat(&member(3), now).await.unwrap();
        let ports: Vec<String> = r
            .entries()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.member.ops)
            .collect();
        assert_eq!(ports, ["127.0.0.1:2", "127.0.0.1:3"]);
    }
}
