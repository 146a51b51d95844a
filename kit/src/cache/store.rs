//! Where entries, generation counters and leases live: shared Redis, or an
//! in-process map for `--store memory`.
//!
//! Redis goes through the process-wide multiplexed `ConnectionManager`
//! (`crate::redis::Redis`): a read is one command on an already-open connection, with
//! no pool check-out and no PING (issue #3 measured 68–76k req/s for it against
//! 23–35k for bb8-redis, and bb8-redis never replaces a killed connection). Every
//! command runs under the configured timeout; a failure opens a short breaker during
//! which the cache is bypassed without touching Redis, so a dead or slow Redis costs
//! one timeout per breaker window, not one per request. The breaker closes by itself,
//! so a returning Redis is used again within one window, without a restart. Within a
//! request, a failure also spends the request's Redis budget (`crate::redis::budget`):
//! its later calls skip Redis too, so a request waits for at most one timeout.
//! Invalidations never wait on a Redis known to be failing: while the breaker is open
//! or the request's budget is spent, [`Store::bump`] does not try and the cache hands
//! the invalidation to its retrier (`invalidate`), which always tries
//! ([`Store::bump_now`]): an invalidation is never skipped, only deferred.

use super::envelope::{Envelope, FIXED_HEADER};
use super::keys::EntryKeys;
use super::ttl::GENERATION_TTL;
use super::wake::{self, Wakeups};
use crate::breaker::Breaker;
use crate::clock::Clock;
use crate::redis::script::{LuaScript, ScriptCall};
use crate::redis::{budget, Redis};
use bytes::Bytes;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// The store failed, timed out, or its breaker is open: the caller bypasses it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Redis answered with an error (or the connection failed).
    #[error("redis: {0}")]
    Redis(String),
    /// Redis did not answer within its timeout.
    #[error("redis timed out")]
    Timeout,
    /// A recent failure opened the breaker: Redis was not tried.
    #[error("redis breaker open")]
    BreakerOpen,
    /// Redis already failed earlier in this request: not tried again.
    #[error("redis skipped: it already failed in this request")]
    Skipped,
}

/// What a read fetches besides the generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The whole entry.
    Whole,
    /// The whole entry and whether its lease is held.
    WithLease,
    /// The whole entry up to this many bytes, else its header only.
    View {
        /// Largest payload read whole.
        whole_up_to: usize,
    },
}

/// What one read found.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// Current generation of the entry's namespace (0 when never bumped).
    pub generation: u64,
    /// The decoded entry, if present and decodable (header only on a matched
    /// `If-None-Match`).
    pub entry: Option<Envelope>,
    /// Whether a single-flight lease is held (only read when asked for).
    pub lease_held: bool,
}

impl Lookup {
    /// The answer of a generation + entry (+ lease) read, in that order (missing ones
    /// count as absent): the `MGET`, or the waiter's registering script.
    pub(super) fn from_values(mut values: Vec<Option<Vec<u8>>>) -> Self {
        values.resize(3, None);
        let lease = values.pop().flatten();
        let entry = values.pop().flatten();
        let generation = values.pop().flatten();
        Lookup {
            generation: parse_generation(generation),
            entry: entry.and_then(|v| Envelope::decode(&v, false)),
            lease_held: lease.is_some(),
        }
    }
}

// View read: one round trip that never moves a large payload. A value up to
// ARGV[1] bytes comes back whole; a larger one comes back as its header only
// (GETRANGE copies just those bytes), and the caller answers `If-None-Match` from
// it, or takes the payload from its in-process copy by ETag (`payloads`), or asks
// for it with a second GET.
static READ_VIEW: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&format!(
        r"
local g = redis.call('GET', KEYS[1])
local n = redis.call('STRLEN', KEYS[2])
if n == 0 then return {{g, false, 0}} end
if n <= tonumber(ARGV[1]) then return {{g, redis.call('GET', KEYS[2]), 0}} end
return {{g, redis.call('GETRANGE', KEYS[2], 0, {MAX_HEADER}), 1}}
"
    ))
});

/// Longest envelope header: fixed part plus a 255-byte etag (0-based last index).
const MAX_HEADER: usize = FIXED_HEADER + 255 - 1;

// Stores an entry only if its generation is still current (a computation that
// started before an invalidation must not overwrite it), then releases the lease
// if this caller holds it, waking the processes that wait for it (`wake`).
// KEYS: generation, entry, lease, waiters, wake list.
static WRITE_AND_RELEASE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&format!(
        r"
local g = redis.call('GET', KEYS[1]) or '0'
local stored = 0
if g == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  stored = 1
end
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) == ARGV[4] then
  redis.call('DEL', KEYS[3]){}
end
return stored
",
        wake::wake_lua(4, 5)
    ))
});

// Token-checked release: only the holder deletes its lease (and wakes its waiters,
// who then take over). KEYS: lease, waiters, wake list.
static RELEASE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&format!(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1]){}
  return 1
end
return 0
",
        wake::wake_lua(2, 3)
    ))
});

// Bumps a generation (namespace or memoized entry); the counter outlives every entry
// (GENERATION_TTL > MAX_HARD_TTL), so its expiry can never revive an old entry.
// An optional second key (the entry itself) is deleted to free memory at once.
static BUMP: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
local g = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if KEYS[2] then redis.call('DEL', KEYS[2]) end
return g
",
    )
});

pub(super) fn parse_generation(raw: Option<Vec<u8>>) -> u64 {
    raw.and_then(|b| std::str::from_utf8(&b).ok()?.parse().ok())
        .unwrap_or(0)
}

/// The Redis side, with its breaker and the blocking connections of its waiters.
pub struct RedisStore {
    redis: Redis,
    breaker: Breaker,
    pub(super) wakeups: Wakeups,
}

impl RedisStore {
    /// A store over `redis` whose breaker stays open for `breaker` after a failure,
    /// timed by `clock`.
    pub fn new(redis: Redis, breaker: Duration, clock: Clock) -> Self {
        Self {
            wakeups: Wakeups::new(&redis, 0),
            redis,
            breaker: Breaker::new(breaker, clock),
        }
    }

    /// This store with up to `size` blocking connections for its waiters (`wake`);
    /// 0, or a Redis Cluster: waiters poll.
    pub fn with_waiter_connections(mut self, size: u32) -> Self {
        self.wakeups = Wakeups::new(&self.redis, size);
        self
    }

    /// The shared handle (its multiplexed connection, prefix and timeout).
    pub(super) fn redis(&self) -> &Redis {
        &self.redis
    }

    /// The prefix of every key (the Redis handle's).
    pub fn prefix(&self) -> &str {
        self.redis.prefix()
    }

    pub(super) async fn run<T, Fut>(&self, fut: Fut) -> Result<T, StoreError>
    where
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.not_failing()?;
        self.attempt(fut).await
    }

    /// `Err` when Redis is not to be tried now: the breaker is open, or Redis already
    /// failed in the current request.
    fn not_failing(&self) -> Result<(), StoreError> {
        if self.breaker.is_open() {
            return Err(StoreError::BreakerOpen);
        }
        if budget::spent() {
            return Err(StoreError::Skipped);
        }
        Ok(())
    }

    /// One command under the timeout, whatever the breaker says (the retrier's
    /// invalidations); a failure opens the breaker and spends the request's budget.
    async fn attempt<T, Fut>(&self, fut: Fut) -> Result<T, StoreError>
    where
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let result = match tokio::time::timeout(self.redis.timeout(), fut).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => StoreError::Redis(e.to_string()),
            Err(_) => StoreError::Timeout,
        };
        budget::failed();
        if self.breaker.trip() {
            log::warn!(
                "cache store error ({result}); bypassing Redis for {} ms",
                self.breaker.window().as_millis()
            );
        }
        Err(result)
    }

    async fn read(&self, keys: &EntryKeys, read: Read) -> Result<Lookup, StoreError> {
        let mut conn = self.redis.conn();
        match read {
            Read::View { whole_up_to } => {
                let mut call = ScriptCall::new(&READ_VIEW, 2);
                call.key(&keys.generation).key(&keys.entry).arg(whole_up_to);
                let (g, v, header_only): (Option<Vec<u8>>, Option<Vec<u8>>, i64) =
                    self.run(call.invoke(&mut conn)).await?;
                Ok(Lookup {
                    generation: parse_generation(g),
                    entry: v.and_then(|v| Envelope::decode(&v, header_only == 1)),
                    lease_held: false,
                })
            }
            Read::Whole | Read::WithLease => {
                let mut cmd = redis::cmd("MGET");
                cmd.arg(&keys.generation).arg(&keys.entry);
                if read == Read::WithLease {
                    cmd.arg(&keys.lease);
                }
                let values: Vec<Option<Vec<u8>>> = self.run(cmd.query_async(&mut conn)).await?;
                Ok(Lookup::from_values(values))
            }
        }
    }

    async fn entry(&self, keys: &EntryKeys) -> Result<Option<Envelope>, StoreError> {
        let mut conn = self.redis.conn();
        let mut cmd = redis::cmd("GET");
        cmd.arg(&keys.entry);
        let raw: Option<Vec<u8>> = self.run(cmd.query_async(&mut conn)).await?;
        Ok(raw.and_then(|v| Envelope::decode(&v, false)))
    }

    async fn write(
        &self,
        keys: &EntryKeys,
        envelope: &Envelope,
        hard_ttl: Duration,
        token: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.redis.conn();
        let mut call = ScriptCall::new(&WRITE_AND_RELEASE, 5);
        call.key(&keys.generation)
            .key(&keys.entry)
            .key(&keys.lease)
            .key(keys.waiters())
            .key(keys.wake_list())
            .arg(envelope.generation.to_string())
            .arg(envelope.encode().as_ref())
            .arg(hard_ttl.as_millis().max(1) as u64)
            .arg(token.unwrap_or(""));
        let stored: i64 = self.run(call.invoke(&mut conn)).await?;
        Ok(stored == 1)
    }

    async fn try_lease(
        &self,
        keys: &EntryKeys,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.redis.conn();
        let mut cmd = redis::cmd("SET");
        cmd.arg(&keys.lease)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        let ok: Option<String> = self.run(cmd.query_async(&mut conn)).await?;
        Ok(ok.is_some())
    }

    async fn release(&self, keys: &EntryKeys, token: &str) -> Result<(), StoreError> {
        let mut conn = self.redis.conn();
        let mut call = ScriptCall::new(&RELEASE, 3);
        call.key(&keys.lease)
            .key(keys.waiters())
            .key(keys.wake_list())
            .arg(token);
        let _: i64 = self.run(call.invoke(&mut conn)).await?;
        Ok(())
    }

    async fn bump(
        &self,
        generation_key: &str,
        entry_key: Option<&str>,
        now: bool,
    ) -> Result<u64, StoreError> {
        if !now {
            self.not_failing()?;
        }
        let mut conn = self.redis.conn();
        let mut call = ScriptCall::new(&BUMP, 1 + usize::from(entry_key.is_some()));
        call.key(generation_key);
        if let Some(entry) = entry_key {
            call.key(entry);
        }
        call.arg(GENERATION_TTL.as_millis() as u64);
        // The breaker only decides whether to try now: one not tried is kept pending
        // by the caller and retried with `now`, which tries whatever the breaker says.
        self.attempt(call.invoke(&mut conn)).await
    }
}

const SHARDS: usize = 32;

#[derive(Default)]
struct MemShard {
    entries: HashMap<String, (Bytes, Instant)>,
    generations: HashMap<String, u64>,
    leases: HashMap<String, (String, Instant)>,
}

/// In-process store for `--store memory`: exact across the workers of one process.
/// Expired entries are dropped when read and swept when a shard grows.
pub struct MemoryStore {
    shards: Box<[Mutex<MemShard>]>,
    hasher: RandomState,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl MemoryStore {
    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, MemShard> {
        let i = self.hasher.hash_one(key) as usize % SHARDS;
        // A poisoned shard only means another thread panicked mid-insert; the map is
        // still usable.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self, keys: &EntryKeys, with_lease: bool) -> Lookup {
        let now = Instant::now();
        let generation = self
            .shard(&keys.generation)
            .generations
            .get(&keys.generation)
            .copied()
            .unwrap_or(0);
        let entry = {
            let mut shard = self.shard(&keys.entry);
            match shard.entries.get(&keys.entry) {
                Some((bytes, until)) if *until > now => Envelope::decode(bytes, false),
                Some(_) => {
                    shard.entries.remove(&keys.entry);
                    None
                }
                None => None,
            }
        };
        let lease_held = with_lease
            && self
                .shard(&keys.lease)
                .leases
                .get(&keys.lease)
                .is_some_and(|(_, until)| *until > now);
        Lookup {
            generation,
            entry,
            lease_held,
        }
    }

    fn write(
        &self,
        keys: &EntryKeys,
        envelope: &Envelope,
        hard_ttl: Duration,
        token: Option<&str>,
    ) -> bool {
        let current = self
            .shard(&keys.generation)
            .generations
            .get(&keys.generation)
            .copied()
            .unwrap_or(0);
        let stored = current == envelope.generation;
        if stored {
            let now = Instant::now();
            let mut shard = self.shard(&keys.entry);
            if shard.entries.len() > 4096 {
                shard.entries.retain(|_, (_, until)| *until > now);
            }
            shard
                .entries
                .insert(keys.entry.clone(), (envelope.encode(), now + hard_ttl));
        }
        if let Some(token) = token {
            self.release(keys, token);
        }
        stored
    }

    fn try_lease(&self, keys: &EntryKeys, token: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut shard = self.shard(&keys.lease);
        match shard.leases.get(&keys.lease) {
            Some((_, until)) if *until > now => false,
            _ => {
                shard
                    .leases
                    .insert(keys.lease.clone(), (token.to_string(), now + ttl));
                true
            }
        }
    }

    fn release(&self, keys: &EntryKeys, token: &str) {
        let mut shard = self.shard(&keys.lease);
        if shard
            .leases
            .get(&keys.lease)
            .is_some_and(|(t, _)| t == token)
        {
            shard.leases.remove(&keys.lease);
        }
    }

    fn bump(&self, generation_key: &str, entry_key: Option<&str>) -> u64 {
        let g = {
            let mut shard = self.shard(generation_key);
            let g = shard
                .generations
                .entry(generation_key.to_string())
                .or_insert(0);
            *g += 1;
            *g
        };
        if let Some(entry) = entry_key {
            self.shard(entry).entries.remove(entry);
        }
        g
    }
}

/// The store behind a `Cache`.
pub enum Store {
    /// Shared Redis.
    Redis(Box<RedisStore>),
    /// In-process maps.
    Memory(MemoryStore),
}

impl Store {
    /// Reads generation + entry (+ lease) in one round trip.
    pub async fn read(&self, keys: &EntryKeys, read: Read) -> Result<Lookup, StoreError> {
        match self {
            Store::Redis(r) => r.read(keys, read).await,
            Store::Memory(m) => Ok(m.read(keys, read == Read::WithLease)),
        }
    }

    /// The whole entry alone (after a header-only view read).
    pub async fn entry(&self, keys: &EntryKeys) -> Result<Option<Envelope>, StoreError> {
        match self {
            Store::Redis(r) => r.entry(keys).await,
            Store::Memory(m) => Ok(m.read(keys, false).entry),
        }
    }

    /// Stores `envelope` if its generation is current; releases `token`'s lease.
    pub async fn write(
        &self,
        keys: &EntryKeys,
        envelope: &Envelope,
        hard_ttl: Duration,
        token: Option<&str>,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Redis(r) => r.write(keys, envelope, hard_ttl, token).await,
            Store::Memory(m) => Ok(m.write(keys, envelope, hard_ttl, token)),
        }
    }

    /// `SET lease token NX PX ttl`.
    pub async fn try_lease(
        &self,
        keys: &EntryKeys,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Redis(r) => r.try_lease(keys, token, ttl).await,
            Store::Memory(m) => Ok(m.try_lease(keys, token, ttl)),
        }
    }

    /// Releases the lease if `token` holds it.
    pub async fn release(&self, keys: &EntryKeys, token: &str) -> Result<(), StoreError> {
        match self {
            Store::Redis(r) => r.release(keys, token).await,
            Store::Memory(m) => {
                m.release(keys, token);
                Ok(())
            }
        }
    }

    /// Increments a generation counter (and deletes `entry_key` if given), unless
    /// Redis is known to be failing (breaker open, or it failed earlier in this
    /// request): then `Err` at once, and the caller keeps the invalidation pending.
    pub async fn bump(
        &self,
        generation_key: &str,
        entry_key: Option<&str>,
    ) -> Result<u64, StoreError> {
        match self {
            Store::Redis(r) => r.bump(generation_key, entry_key, false).await,
            Store::Memory(m) => Ok(m.bump(generation_key, entry_key)),
        }
    }

    /// [`Store::bump`] that always tries Redis, breaker or not (the retrier, the
    /// shutdown flush).
    pub async fn bump_now(
        &self,
        generation_key: &str,
        entry_key: Option<&str>,
    ) -> Result<u64, StoreError> {
        match self {
            Store::Redis(r) => r.bump(generation_key, entry_key, true).await,
            Store::Memory(m) => Ok(m.bump(generation_key, entry_key)),
        }
    }
}
