//! Wake-ups for the processes that wait on another process's single-flight lease
//! (`lease`): instead of polling Redis with a backoff, a waiter registers (a counter
//! beside the lease, in the same script as its read) and blocks on a per-lease list
//! (`BLPOP`); the holder, when it releases the lease (with its value or without),
//! pushes one token per registered waiter in the same script. A token only says
//! "read again": the waiter then reads the entry and checks its generation as before,
//! never trusting the token alone.
//!
//! Blocking commands cannot share the multiplexed connection (they would stall every
//! command queued behind them), so they go through a small bb8-redis pool of their
//! own ([`Wakeups`], `CacheConfig::waiter_connections`, 4 by default). Its connections keep
//! redis 1.x's 500 ms response timeout, so one `BLPOP` blocks at most [`MAX_BLOCK`]
//! (shorter), and a waiter blocks again (registering again) until the value lands,
//! the lease is gone (take over), or `lease_wait` passes: the same bound as before.
//! When no pooled connection is free within [`POOL_WAIT`], or the pool fails, the
//! waiter polls as before for that step: a busy pool never deadlocks a waiter. A
//! failed blocking call drops the pool (bb8-redis cannot tell a broken connection), and
//! the next waiter builds a new one.
//!
//! On a Redis Cluster there is no pool (bb8-redis pools single-node connections):
//! waiters poll with the backoff, as before; the holder's script still wakes nobody
//! at the cost of one `GET` of the counter.

use crate::redis::script::LuaScript;
use crate::redis::Redis;
use bb8_redis::RedisConnectionManager;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// The longest single `BLPOP`: below the 500 ms response timeout of bb8-redis's
/// connections, with room for a loaded machine.
pub const MAX_BLOCK: Duration = Duration::from_millis(250);
/// How long a waiter waits for a free pooled connection before it polls instead.
pub const POOL_WAIT: Duration = Duration::from_millis(5);
/// How long pushed tokens (and a registration) outlive the lease's release: long
/// enough for a waiter between two blocks, short enough to leave nothing behind.
const TOKEN_TTL_MS: u64 = 1_000;
/// Tokens pushed per release at most (a waiter beyond them wakes at its next block's end).
const MAX_TOKENS: usize = 64;

/// The Lua that wakes the waiters of a lease, run by the holder's script right after
/// it deleted its lease: one token per registered waiter, then the count is reset.
/// `waiters` and `list` are the KEYS indexes of [`super::keys::EntryKeys::waiters`] and
/// [`super::keys::EntryKeys::wake_list`].
pub fn wake_lua(waiters: usize, list: usize) -> String {
    format!(
        r"
  local waiting = tonumber(redis.call('GET', KEYS[{waiters}]) or '0')
  if waiting > 0 then
    local tokens = {{}}
    for i = 1, math.min(waiting, {MAX_TOKENS}) do tokens[i] = 1 end
    redis.call('LPUSH', KEYS[{list}], unpack(tokens))
    redis.call('PEXPIRE', KEYS[{list}], {TOKEN_TTL_MS})
    redis.call('DEL', KEYS[{waiters}])
  end"
    )
}

/// A waiter's read: generation, entry and lease (as `MGET`), and, while the lease is
/// held, one more waiter registered for its holder's wake-up (the count lives as long
/// as the lease may). KEYS: generation, entry, lease, waiters; ARGV\[1\]: lease TTL (ms).
pub static REGISTER_READ: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
local v = redis.call('MGET', KEYS[1], KEYS[2], KEYS[3])
if v[3] then
  redis.call('INCR', KEYS[4])
  redis.call('PEXPIRE', KEYS[4], ARGV[1])
end
return v
",
    )
});

/// What one blocking wait ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A token arrived: the holder released its lease.
    Woken,
    /// The block's time passed without one.
    TimedOut,
    /// No blocking connection (no pool, none free, or it failed): poll instead.
    Unavailable,
}

type Pool = bb8::Pool<RedisConnectionManager>;

/// The blocking connections of one cache: a bb8-redis pool, built on first use.
pub struct Wakeups {
    manager: Option<RedisConnectionManager>,
    size: u32,
    pool: Mutex<Option<Pool>>,
}

impl Wakeups {
    /// Up to `size` blocking connections to `redis`'s server; none (waiters poll) when
    /// `size` is 0 or `redis` is a Redis Cluster. Never connects here.
    pub fn new(redis: &Redis, size: u32) -> Self {
        let manager = redis
            .node_url()
            .filter(|_| size > 0)
            .and_then(|url| RedisConnectionManager::new(url).ok());
        Self {
            manager,
            size,
            pool: Mutex::new(None),
        }
    }

    /// Whether waiters block (register and wait for a token) rather than poll.
    pub fn enabled(&self) -> bool {
        self.manager.is_some()
    }

    fn pool(&self) -> Option<Pool> {
        let manager = self.manager.as_ref()?;
        let mut slot = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let pool = slot.get_or_insert_with(|| {
            bb8::Pool::builder()
                .max_size(self.size)
                // No PING per check-out: a failed BLPOP drops the pool instead.
                .test_on_check_out(false)
                .connection_timeout(POOL_WAIT)
                .build_unchecked(manager.clone())
        });
        Some(pool.clone())
    }

    /// Blocks on `list` for at most `wait` (capped at [`MAX_BLOCK`]; under 1 ms it
    /// does not block, since `BLPOP 0` would block forever).
    pub async fn block(&self, list: &str, wait: Duration) -> Wake {
        let wait = wait.min(MAX_BLOCK);
        if wait < Duration::from_millis(1) {
            return Wake::TimedOut;
        }
        let Some(pool) = self.pool() else {
            return Wake::Unavailable;
        };
        let Ok(mut conn) = pool.get().await else {
            return Wake::Unavailable;
        };
        let mut cmd = redis::cmd("BLPOP");
        cmd.arg(list).arg(wait.as_secs_f64());
        match cmd
            .query_async::<Option<(String, String)>>(&mut *conn)
            .await
        {
            Ok(Some(_)) => Wake::Woken,
            Ok(None) => Wake::TimedOut,
            Err(e) => {
                drop(conn);
                // bb8-redis never reports a broken connection: start a new pool.
                self.pool.lock().unwrap_or_else(|p| p.into_inner()).take();
                log::debug!("cache wake-up wait failed ({e}); polling this step");
                Wake::Unavailable
            }
        }
    }

    /// Connections open and idle (for tests and gauges).
    pub fn state(&self) -> Option<(u32, u32)> {
        let slot = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref()
            .map(|p| (p.state().connections, p.state().idle_connections))
    }
}
