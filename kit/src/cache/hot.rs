//! Which entries are hot: access counts with exponential decay, per entry key, in a
//! sharded map of std mutexes (no await inside, no actor mailbox on the hit path).
//! The cache touches it on every read of a registered recipe; the warming scheduler
//! asks it which hot entries approach their soft expiry.

use super::keys::{EntryKeys, Scope};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything needed to recompute an entry without a request: the recipe (registered
/// computation), its scope and arguments, its keys and TTL.
#[derive(Debug, Clone)]
pub struct HotRecord {
    /// The registered recipe's id.
    pub recipe: Arc<str>,
    /// Whose entry it is.
    pub scope: Scope,
    /// The recipe's arguments (normalized query, or memoized arguments as JSON).
    pub args: Arc<str>,
    /// The entry's keys.
    pub keys: EntryKeys,
    /// The entry's soft TTL.
    pub ttl: Duration,
}

struct HotState {
    record: Arc<HotRecord>,
    count: f64,
    last: Instant,
    soft_expiry_ms: u64,
}

const SHARDS: usize = 32;
/// Below this decayed count an entry is forgotten (left to expire).
const FORGET_BELOW: f64 = 0.05;
/// Entries tracked per shard at most: a flood of distinct one-off keys (searches)
/// cannot grow the map without bound; known keys keep counting when it is full.
const MAX_PER_SHARD: usize = 4096;

/// Decayed access counts per entry key.
pub struct HotKeys {
    shards: Box<[Mutex<HashMap<String, HotState>>]>,
    hasher: RandomState,
    half_life: Duration,
}

/// `count` after `elapsed` of exponential decay with the given half-life.
pub fn decayed(count: f64, elapsed: Duration, half_life: Duration) -> f64 {
    if half_life.is_zero() {
        return 0.0;
    }
    count * 0.5f64.powf(elapsed.as_secs_f64() / half_life.as_secs_f64())
}

impl HotKeys {
    /// Empty counts that halve every `half_life`.
    pub fn new(half_life: Duration) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            half_life,
        }
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, HashMap<String, HotState>> {
        let i = self.hasher.hash_one(key) as usize % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one access to `record`'s entry, whose soft expiry is `soft_expiry_ms`.
    pub fn touch(&self, record: impl FnOnce() -> HotRecord, entry_key: &str, soft_expiry_ms: u64) {
        let now = Instant::now();
        let mut shard = self.shard(entry_key);
        let full = shard.len() >= MAX_PER_SHARD;
        match shard.get_mut(entry_key) {
            Some(state) => {
                state.count = decayed(state.count, now - state.last, self.half_life) + 1.0;
                state.last = now;
                state.soft_expiry_ms = state.soft_expiry_ms.max(soft_expiry_ms);
            }
            None if full => {}
            None => {
                shard.insert(
                    entry_key.to_string(),
                    HotState {
                        record: Arc::new(record()),
                        count: 1.0,
                        last: now,
                        soft_expiry_ms,
                    },
                );
            }
        }
    }

    /// Records a known soft expiry (after a refresh) without counting an access.
    pub fn set_soft_expiry(&self, entry_key: &str, soft_expiry_ms: u64) {
        if let Some(state) = self.shard(entry_key).get_mut(entry_key) {
            state.soft_expiry_ms = soft_expiry_ms;
        }
    }

    /// The decayed count of an entry (0 when unknown).
    pub fn count(&self, entry_key: &str) -> f64 {
        self.shard(entry_key)
            .get(entry_key)
            .map(|s| decayed(s.count, s.last.elapsed(), self.half_life))
            .unwrap_or(0.0)
    }

    /// Hot entries (decayed count ≥ `threshold`) whose soft expiry falls before
    /// `now_ms + lookahead(ttl)`, hottest first. Forgets entries that went cold.
    pub fn due(
        &self,
        now_ms: u64,
        threshold: f64,
        lookahead: impl Fn(Duration) -> Duration,
    ) -> Vec<(Arc<HotRecord>, f64)> {
        let now = Instant::now();
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            shard.retain(|_, state| {
                let count = decayed(state.count, now - state.last, self.half_life);
                if count < FORGET_BELOW && state.soft_expiry_ms < now_ms {
                    return false;
                }
                let horizon = now_ms + lookahead(state.record.ttl).as_millis() as u64;
                if count >= threshold && state.soft_expiry_ms <= horizon {
                    out.push((Arc::clone(&state.record), count));
                }
                true
            });
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_halve_every_half_life() {
        let h = Duration::from_secs(10);
        assert_eq!(decayed(8.0, Duration::ZERO, h), 8.0);
        assert!((decayed(8.0, h, h) - 4.0).abs() < 1e-9);
        assert!((decayed(8.0, h * 3, h) - 1.0).abs() < 1e-9);
    }
}
