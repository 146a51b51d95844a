//! The store's side of waiting on another process's lease (`wake` holds the
//! wake-up protocol and its pool): the waiter's registering read, and the blocking
//! wait, for the store's Redis or memory variant.

use super::keys::EntryKeys;
use super::store::{Lookup, Read, RedisStore, Store, StoreError};
use super::wake::{Wake, REGISTER_READ};
use crate::redis::script::ScriptCall;
use std::time::Duration;

impl RedisStore {
    /// [`REGISTER_READ`]: the waiter's read, registering it while the lease is held.
    async fn read_registering(
        &self,
        keys: &EntryKeys,
        lease_ttl: Duration,
    ) -> Result<Lookup, StoreError> {
        let mut conn = self.redis().conn();
        let mut call = ScriptCall::new(&REGISTER_READ, 4);
        call.key(&keys.generation)
            .key(&keys.entry)
            .key(&keys.lease)
            .key(keys.waiters())
            .arg(lease_ttl.as_millis().max(1) as u64);
        let values: Vec<Option<Vec<u8>>> = self.run(call.invoke(&mut conn)).await?;
        Ok(Lookup::from_values(values))
    }
}

impl Store {
    /// Whether a waiter on another process's lease blocks for a wake-up (Redis on
    /// one server, with blocking connections) rather than polls.
    pub fn waiters_block(&self) -> bool {
        matches!(self, Store::Redis(r) if r.wakeups.enabled())
    }

    /// A waiter's read ([`Read::WithLease`]), registering it for the holder's wake-up
    /// when waiters block.
    pub async fn read_waiting(
        &self,
        keys: &EntryKeys,
        lease_ttl: Duration,
    ) -> Result<Lookup, StoreError> {
        match self {
            Store::Redis(r) if r.wakeups.enabled() => r.read_registering(keys, lease_ttl).await,
            _ => self.read(keys, Read::WithLease).await,
        }
    }

    /// Blocking connections open and idle (`None` before the first blocking wait).
    pub fn waiter_pool_state(&self) -> Option<(u32, u32)> {
        match self {
            Store::Redis(r) => r.wakeups.state(),
            Store::Memory(_) => None,
        }
    }

    /// Waits up to `wait` for the holder of `keys`' lease to release it.
    pub async fn block(&self, keys: &EntryKeys, wait: Duration) -> Wake {
        match self {
            Store::Redis(r) => r.wakeups.block(&keys.wake_list(), wait).await,
            Store::Memory(_) => Wake::Unavailable,
        }
    }
}
