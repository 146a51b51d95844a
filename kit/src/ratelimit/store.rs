//! Where the limits' states live: Redis (shared by every process; one Lua script per
//! request checks and charges all of its limits, time from Redis `TIME`: see
//! [`super::script`]) or process memory (`--store memory`, and the `local` failure
//! fallback): sharded mutexes over the same pure algorithms ([`super::window`],
//! [`super::counter`]), exact across the workers of one process.

use super::limits::Rate;
use super::policy::Check;
use super::script::{self, key_args};
use super::slots;
use super::state::State;
use super::window::{self, Status, Window};
use crate::clock::Clock;
use crate::redis::script::{LuaScript, ScriptCall};
use crate::redis::Redis;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};

/// The outcome of one multi-limit check in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOutcome {
    /// Epoch milliseconds of the decision, by the store's clock.
    pub now_ms: u64,
    /// Every check admitted the request (and each was charged).
    pub allowed: bool,
    /// One status per check, in order.
    pub statuses: Vec<Status>,
}

const SHARDS: usize = 64;
/// A shard sweeps its expired logs every this many decisions.
const SWEEP_EVERY: u32 = 1024;

struct Entry {
    state: State,
    expires_at: u64,
}

#[derive(Default)]
struct Shard {
    states: HashMap<String, Entry>,
    ops: u32,
}

/// In-process store: `SHARDS` mutex-guarded maps; a decision locks the shards of its
/// keys in index order (no deadlock), so concurrent workers never see half a charge.
/// Locks are std mutexes held for microseconds and never across an await.
#[derive(Clone)]
pub struct MemoryStore {
    shards: Arc<[Mutex<Shard>]>,
    hasher: RandomState,
    clock: Clock,
}

impl MemoryStore {
    /// An empty store reading time from `clock`.
    pub fn new(clock: Clock) -> Self {
        let shards: Vec<Mutex<Shard>> = (0..SHARDS).map(|_| Mutex::default()).collect();
        Self {
            shards: shards.into(),
            hasher: RandomState::new(),
            clock,
        }
    }

    fn shard_of(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    /// Checks and charges `checks` at the store's clock.
    pub fn decide(&self, checks: &[Check], cost: u64) -> StoreOutcome {
        self.decide_at(&[], checks, |c| c.rate, cost, self.clock.now_ms())
    }

    /// Same at `now`, with each check's rate mapped (the `local` fallback's share) and
    /// `guards` checked first and never charged: the outcome's statuses are the
    /// guards' then the checks'.
    pub fn decide_at(
        &self,
        guards: &[Check],
        checks: &[Check],
        rate_of: impl Fn(&Check) -> Rate,
        cost: u64,
        now: u64,
    ) -> StoreOutcome {
        self.run_at(guards, checks, rate_of, cost, now, true)
    }

    /// Checks `checks` at `now` without charging them (a dry run).
    pub fn peek_at(
        &self,
        checks: &[Check],
        rate_of: impl Fn(&Check) -> Rate,
        cost: u64,
        now: u64,
    ) -> StoreOutcome {
        self.run_at(&[], checks, rate_of, cost, now, false)
    }

    /// Takes back one admission stamped `stamp_ms` from each check's state (never
    /// below zero).
    pub fn refund(&self, checks: &[Check], stamp_ms: u64) {
        let now = self.clock.now_ms();
        for c in checks {
            let mut shard = self.shards[self.shard_of(&c.key)]
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = shard.states.get_mut(&c.key) {
                entry.state.refund_at(stamp_ms, now, c.rate);
            }
        }
    }

    fn run_at(
        &self,
        guards: &[Check],
        checks: &[Check],
        rate_of: impl Fn(&Check) -> Rate,
        cost: u64,
        now: u64,
        charge: bool,
    ) -> StoreOutcome {
        let unchargeable = guards.len();
        let checks: Vec<&Check> = guards.iter().chain(checks).collect();
        let idx: Vec<usize> = checks.iter().map(|c| self.shard_of(&c.key)).collect();
        let mut order = idx.clone();
        order.sort_unstable();
        order.dedup();
        // A poisoned shard only means another thread panicked mid-decision; the map
        // is still a valid map, so keep limiting with it.
        let mut locked: Vec<(usize, MutexGuard<'_, Shard>)> = order
            .iter()
            .map(|&i| (i, self.shards[i].lock().unwrap_or_else(|p| p.into_inner())))
            .collect();
        let rates: Vec<Rate> = checks.iter().map(|c| rate_of(c)).collect();
        // Take the states out, decide on them, put back the non-empty ones.
        let mut states: Vec<State> = checks
            .iter()
            .zip(&idx)
            .zip(&rates)
            .map(|((c, i), rate)| {
                let g = locked.iter_mut().find(|(j, _)| j == i).map(|(_, g)| g);
                g.and_then(|g| g.states.remove(&c.key))
                    .map_or_else(|| State::for_rate(*rate), |e| e.state)
            })
            .collect();
        let mut refs: Vec<&mut State> = states.iter_mut().collect();
        let (allowed, statuses) = if charge {
            window::decide(&mut refs, &rates, now, cost, unchargeable)
        } else {
            window::peek(&mut refs, &rates, now, cost)
        };
        let back = checks.iter().zip(&idx).zip(states.into_iter().zip(&rates));
        for ((c, i), (state, rate)) in back {
            if let Some((_, g)) = locked.iter_mut().find(|(j, _)| j == i) {
                if !state.is_idle() {
                    let expires_at = state.expiry(*rate);
                    g.states.insert(c.key.clone(), Entry { state, expires_at });
                }
            }
        }
        for (_, g) in locked.iter_mut() {
            g.ops += 1;
            if g.ops >= SWEEP_EVERY {
                g.ops = 0;
                g.states.retain(|_, e| e.expires_at > now);
            }
        }
        StoreOutcome {
            now_ms: now,
            allowed,
            statuses,
        }
    }

    /// States held (for tests of the sweep).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).states.len())
            .sum()
    }

    /// True when no state is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Redis store: one `EVALSHA` per request on the shared multiplexed connection
/// (`ScriptCall` sends it as `EVAL` on NOSCRIPT), no PING, no new connection.
#[derive(Clone)]
pub struct RedisStore {
    redis: Redis,
    script: Arc<LuaScript>,
    refund: Arc<LuaScript>,
    /// Limits on different hash tags go in separate calls (a Redis Cluster).
    by_slot: bool,
}

impl RedisStore {
    /// A store on `redis` (its prefix and timeout); never connects here.
    pub fn new(redis: Redis) -> Self {
        let by_slot = redis.is_cluster();
        Self::with_slots(redis, by_slot)
    }

    /// A store that reserves limits tag by tag when `by_slot` (what a Redis Cluster
    /// needs; a single server takes it too, which the tests use).
    pub fn with_slots(redis: Redis, by_slot: bool) -> Self {
        Self {
            redis,
            script: Arc::new(LuaScript::new(script::DECIDE)),
            refund: Arc::new(LuaScript::new(script::REFUND)),
            by_slot,
        }
    }

    /// The shared handle (its timeout bounds a decision).
    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    /// Checks and charges `checks` atomically in one round trip.
    pub async fn decide(&self, checks: &[Check], cost: u64) -> redis::RedisResult<StoreOutcome> {
        self.run(&[], checks, cost, true).await
    }

    /// [`RedisStore::decide`] with `guards` checked first and never charged, in the same
    /// round trip: the outcome's statuses are the guards' then the checks'.
    pub async fn decide_guarded(
        &self,
        guards: &[Check],
        checks: &[Check],
        cost: u64,
    ) -> redis::RedisResult<StoreOutcome> {
        self.run(guards, checks, cost, true).await
    }

    /// Checks `checks` in one round trip without charging them (a dry run).
    pub async fn peek(&self, checks: &[Check], cost: u64) -> redis::RedisResult<StoreOutcome> {
        self.run(&[], checks, cost, false).await
    }

    /// Takes back one admission stamped `stamp_ms` from each check's state (a log's
    /// newest entry with that stamp, one from a counter's sub-window, never below zero):
    /// a reservation that turned out not to count. One script call.
    pub async fn refund(&self, checks: &[Check], stamp_ms: u64) -> redis::RedisResult<()> {
        if !self.by_slot {
            return self.refund_one(checks, stamp_ms).await;
        }
        let groups = slots::by_tag(checks.iter().map(|c| c.key.as_str()));
        let calls = groups.iter().map(|g| {
            let group: Vec<Check> = g.iter().map(|&i| checks[i].clone()).collect();
            async move { self.refund_one(&group, stamp_ms).await }
        });
        futures_util::future::join_all(calls)
            .await
            .into_iter()
            .collect()
    }

    /// One refund call: `checks` share a slot.
    async fn refund_one(&self, checks: &[Check], stamp_ms: u64) -> redis::RedisResult<()> {
        let mut call = ScriptCall::new(&self.refund, checks.len());
        for c in checks {
            call.key(c.key.as_str());
        }
        call.arg(stamp_ms);
        for c in checks {
            let (kind, width, lookback) = key_args(c.rate);
            call.arg(kind).arg(width).arg(lookback);
        }
        let mut conn = self.redis.conn();
        call.invoke::<i64>(&mut conn).await.map(drop)
    }

    /// Guards and checks in one call, or, reserving by slot, one call per hash tag
    /// sent together: admitted when every call admitted; when one refused (or
    /// failed), the calls that charged are refunded, so no limit keeps a charge for
    /// a request that was not served (a refund lost to a failure charges it for one
    /// period at most).
    async fn run(
        &self,
        guards: &[Check],
        checks: &[Check],
        cost: u64,
        charge: bool,
    ) -> redis::RedisResult<StoreOutcome> {
        let all: Vec<&Check> = guards.iter().chain(checks).collect();
        let groups = slots::by_tag(all.iter().map(|c| c.key.as_str()));
        if !self.by_slot || groups.len() < 2 {
            return self.run_one(guards, checks, cost, charge).await;
        }
        let calls = groups.iter().map(|g| {
            let (gs, cs): (Vec<usize>, Vec<usize>) = g.iter().partition(|&&i| i < guards.len());
            let gs: Vec<Check> = gs.iter().map(|&i| all[i].clone()).collect();
            let cs: Vec<Check> = cs.iter().map(|&i| all[i].clone()).collect();
            async move { (self.run_one(&gs, &cs, cost, charge).await, cs) }
        });
        let replies = futures_util::future::join_all(calls).await;
        let failed = replies
            .iter()
            .any(|(r, _)| r.as_ref().map_or(true, |o| !o.allowed));
        if charge && failed {
            for (reply, charged) in &replies {
                if let Some(o) = reply.as_ref().ok().filter(|o| o.allowed) {
                    let _ = self.refund_one(charged, o.now_ms).await;
                }
            }
        }
        let mut statuses = vec![Status::default(); all.len()];
        let (mut now_ms, mut allowed) = (0, true);
        for (g, (reply, _)) in groups.iter().zip(replies) {
            let outcome = reply?;
            now_ms = now_ms.max(outcome.now_ms);
            allowed &= outcome.allowed;
            // A group's statuses come back guards first, in position order: as `g`.
            for (&i, status) in g.iter().zip(outcome.statuses) {
                statuses[i] = status;
            }
        }
        Ok(StoreOutcome {
            now_ms,
            allowed,
            statuses,
        })
    }

    /// One script call over `guards` and `checks` (they share a slot).
    async fn run_one(
        &self,
        guards: &[Check],
        checks: &[Check],
        cost: u64,
        charge: bool,
    ) -> redis::RedisResult<StoreOutcome> {
        let mut call = ScriptCall::new(&self.script, guards.len() + checks.len());
        for c in guards.iter().chain(checks) {
            call.key(c.key.as_str());
        }
        call.arg(cost).arg(u8::from(charge)).arg(guards.len());
        for c in guards.iter().chain(checks) {
            let (kind, width, lookback) = key_args(c.rate);
            call.arg(c.rate.count).arg(c.rate.period_ms());
            call.arg(kind).arg(width).arg(lookback);
        }
        let mut conn = self.redis.conn();
        let raw: Vec<i64> = call.invoke(&mut conn).await?;
        parse_reply(&raw, guards.len() + checks.len()).ok_or_else(|| {
            redis::RedisError::from((
                redis::ErrorKind::Parse,
                "rate-limit script reply has the wrong shape",
            ))
        })
    }
}

fn parse_reply(raw: &[i64], n: usize) -> Option<StoreOutcome> {
    if raw.len() != 2 + 3 * n {
        return None;
    }
    let statuses = raw[2..]
        .chunks_exact(3)
        .map(|c| Status {
            remaining: c[0].max(0) as u64,
            reset_after_ms: c[1].max(0) as u64,
            retry_after_ms: (c[2] >= 0).then_some(c[2] as u64),
        })
        .collect();
    Some(StoreOutcome {
        now_ms: raw[0].max(0) as u64,
        allowed: raw[1] == 1,
        statuses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(key: &str, count: u64, secs: u64) -> Check {
        Check {
            name: Arc::from("t"),
            rate: Rate::new(count, Duration::from_secs(secs)),
            key: key.into(),
        }
    }

    #[test]
    fn memory_store_charges_all_or_none_across_shards() {
        let store = MemoryStore::new(Clock::system());
        let checks = [check("daily", 200, 86_400), check("hourly", 2, 3_600)];
        let now = 1_000_000;
        assert!(store.decide_at(&[], &checks, |c| c.rate, 1, now).allowed);
        assert!(
            store
                .decide_at(&[], &checks, |c| c.rate, 1, now + 1)
                .allowed
        );
        let out = store.decide_at(&[], &checks, |c| c.rate, 1, now + 2);
        assert!(!out.allowed);
        assert_eq!(out.statuses[0].remaining, 198);
        assert_eq!(out.statuses[1].remaining, 0);
    }

    #[test]
    fn memory_store_is_exact_across_threads() {
        let store = MemoryStore::new(Clock::system());
        let checks = vec![check("shared", 500, 3_600)];
        let admitted: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        (0..200)
                            .filter(|_| store.decide(&checks, 1).allowed)
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 500);
    }

    #[test]
    fn memory_store_sweeps_expired_logs() {
        let store = MemoryStore::new(Clock::system());
        for i in 0..2_000 {
            store.decide_at(&[], &[check(&format!("k{i}"), 1, 1)], |c| c.rate, 1, 0);
        }
        assert_eq!(store.len(), 2_000);
        // Later traffic on 4,096 other keys makes every shard sweep at least once.
        for i in 0..(SHARDS as u32 * SWEEP_EVERY * 3) {
            let key = format!("late{}", i % 4096);
            store.decide_at(&[], &[check(&key, 1, 1)], |c| c.rate, 1, 10_000);
        }
        assert_eq!(store.len(), 4_096, "the 2,000 expired logs are gone");
    }

    #[test]
    fn script_replies_parse_and_bad_shapes_are_refused() {
        let out = parse_reply(&[5_000, 1, 3, 60_000, -1], 1).unwrap();
        assert!(out.allowed);
        assert_eq!(out.statuses[0].retry_after_ms, None);
        assert!(parse_reply(&[5_000, 1, 3], 1).is_none());
    }
}
