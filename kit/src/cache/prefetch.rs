//! A cached read made before the handler runs, beside the limiter's decision, so a
//! cached hit costs one Redis round trip instead of two: both commands go out
//! together on the multiplexed connection and come back together (one write, one
//! read); a refused request drops its read.
//!
//! The guard learns the handler's key from the route, which declared it when it was
//! mounted ([`CacheRead`] built by [`Cache::view_read`] or [`Cache::memo_read`], the
//! same key functions `view` and `memoize` use). The read reaches the handler through
//! a task-local ([`Prefetch::scope`]); the handler's first cache call of exactly those
//! keys, with the same kind of read, takes it instead of reading again ([`take`]).
//! Any other call reads as before, so a route that declared a wrong key costs one
//! wasted read, never a wrong answer.
//!
//! Nothing else changes: the prefetched read is the same command under the same
//! breaker and request budget; the counter of issued invalidations is taken before it,
//! as a read of its own would take it; a pending invalidation of the key is checked
//! again when the handler's call uses it; the memory store and a disabled cache do not
//! prefetch (there is no round trip to save).

use super::keys::{self, EntryKeys, Scope};
use super::store::{Lookup, Read, Store, StoreError};
use super::{payloads, Cache, ViewKey};
use std::cell::RefCell;
use std::future::Future;

/// A cache read a route's handler will make, declared for the guard to start early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRead {
    keys: EntryKeys,
    read: Read,
}

/// A read made ahead of the handler: hand it over with [`Prefetch::scope`].
pub struct Prefetch(Option<Prefetched>);

/// What the early read found, and the invalidation counter taken before it.
pub(super) struct Prefetched {
    read: CacheRead,
    pub(super) issued: u64,
    pub(super) result: Result<Lookup, StoreError>,
}

tokio::task_local! {
    static PREFETCHED: RefCell<Option<Prefetched>>;
}

impl Prefetch {
    /// No read made (nothing declared, nothing to save).
    pub fn none() -> Self {
        Prefetch(None)
    }

    /// Whether a read was made.
    pub fn is_some(&self) -> bool {
        self.0.is_some()
    }

    /// Runs `fut` (the handler) with the read available to its cache calls.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        match self.0 {
            None => fut.await,
            Some(p) => PREFETCHED.scope(RefCell::new(Some(p)), fut).await,
        }
    }
}

/// The prefetched read of exactly these keys and this kind of read, once.
pub(super) fn take(keys: &EntryKeys, read: Read) -> Option<Prefetched> {
    PREFETCHED
        .try_with(|slot| {
            let mut slot = slot.borrow_mut();
            let same = slot
                .as_ref()
                .is_some_and(|p| p.read.keys == *keys && p.read.read == read);
            same.then(|| slot.take()).flatten()
        })
        .ok()
        .flatten()
}

impl Cache {
    /// The read [`Cache::view`] makes for `key`.
    pub fn view_read(&self, key: ViewKey<'_>) -> CacheRead {
        let query = keys::normalize_query(key.query, key.only);
        CacheRead {
            keys: self.view_keys(key, &query),
            read: payloads::VIEW_READ,
        }
    }

    /// The read [`Cache::memoize`] and [`Cache::memoize_bytes`] make for `name` and
    /// `args` (`None` when the arguments cannot be keyed: they read nothing either).
    pub fn memo_read<A: serde::Serialize + ?Sized>(
        &self,
        name: &str,
        args: &A,
        scope: Scope,
    ) -> Option<CacheRead> {
        let args_json = serde_json::to_string(args).ok()?;
        Some(CacheRead {
            keys: keys::memo_keys(&self.inner.prefix, scope, name, &args_json),
            read: Read::Whole,
        })
    }

    /// Reads `what` now, for the handler's call of the same keys to use instead of
    /// reading again. Reads nothing with the memory store, with the cache off, or
    /// while an invalidation of the key is pending (the handler's call bypasses then).
    pub async fn prefetch(&self, what: CacheRead) -> Prefetch {
        let inner = &self.inner;
        let pending = inner.invalidations.blocking(&what.keys.generation);
        if !inner.config.enabled || matches!(*inner.store, Store::Memory(_)) || pending.is_some() {
            return Prefetch::none();
        }
        let issued = inner.invalidations.issued();
        let result = inner.store.read(&what.keys, what.read).await;
        Prefetch(Some(Prefetched {
            read: what,
            issued,
            result,
        }))
    }

    /// The keys of a view (its query already normalized).
    pub(super) fn view_keys(&self, key: ViewKey<'_>, normalized_query: &str) -> EntryKeys {
        let prefix = &self.inner.prefix;
        keys::view_keys(
            prefix,
            key.scope,
            key.namespace,
            key.route,
            normalized_query,
        )
    }
}
