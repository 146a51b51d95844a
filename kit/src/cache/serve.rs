//! The read path behind `view`, `memoize` and `memoize_bytes`: read the entry;
//! fresh → hit; stale → serve it and refresh once in the background; missing → join
//! this process's flight of the key or lead one (`lease`). A pending invalidation of
//! the key or a failing store bypasses the cache (computed, served, never stored).

use super::envelope::{if_none_match_matches, Envelope};
use super::flight::{FlightError, FlightValue};
use super::hot::HotRecord;
use super::keys::{EntryKeys, Scope};
use super::lease::{lead, Mode};
use super::store::Read;
use super::thunk::{compute_only, thunk_of};
use super::{Cache, CachedBody, Memo};
use crate::metrics::{CacheEvent, CacheKind};
use bytes::Bytes;
use futures_util::future::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What a read served, and what the cache did to serve it.
pub(super) struct Served {
    pub(super) envelope: Arc<Envelope>,
    pub(super) outcome: CacheEvent,
}

impl Served {
    /// A value computed outside the cache (disabled, bypassed, fallback): never
    /// stored, so it has no generation and no soft expiry.
    pub(super) fn computed(payload: Bytes, outcome: CacheEvent) -> Self {
        Self {
            envelope: Arc::new(Envelope::new(0, 0, payload)),
            outcome,
        }
    }
}

impl Served {
    /// The memoized value in the served JSON (an error when another version of the
    /// type wrote it).
    pub(super) fn decode<T: DeserializeOwned>(self) -> Result<Memo<T>, serde_json::Error> {
        let json = self.envelope.payload.clone().unwrap_or_default();
        Ok(Memo {
            value: serde_json::from_slice(&json)?,
            json,
            etag: Arc::clone(&self.envelope.etag),
            outcome: self.outcome,
        })
    }
}

impl From<Served> for CachedBody {
    fn from(served: Served) -> Self {
        CachedBody {
            etag: Arc::clone(&served.envelope.etag),
            body: served.envelope.payload.clone(),
            outcome: served.outcome,
        }
    }
}

/// Where a read's entry is counted for warming: (recipe id, scope, arguments).
pub(super) type HotKey<'a> = Option<(&'a str, Scope, &'a str)>;

impl Cache {
    /// The core: read; fresh → hit; stale → serve and refresh in the background;
    /// miss → join or lead the flight. `hot` = (recipe id, scope, args) for warming.
    pub(super) async fn serve<E, F, Fut>(
        &self,
        keys: &EntryKeys,
        ttl: Duration,
        read: Read,
        if_none_match: Option<&[String]>,
        compute: F,
        hot: HotKey<'_>,
    ) -> Result<Served, E>
    where
        E: Display + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
    {
        let inner = &self.inner;
        if !inner.config.enabled {
            return self.direct(keys.kind, compute).await;
        }
        if let Some(tag) = inner.invalidations.blocking(&keys.generation) {
            // An invalidation of this key failed and is pending: the stored entry
            // may predate the write, so compute (`writes` module doc). The retry task may
            // have died with its runtime: make sure one runs.
            inner.invalidations.ensure_retrier(&inner.store);
            return (self.bypass(keys.kind, format!("{}#pending{tag}", keys.entry), compute)).await;
        }
        // Read before the store call: an invalidation issued after this point must
        // not let this read join a bypass computation that started before it.
        // A read the guard made beside the limiter's decision is used as this one.
        let (issued, lookup) = match super::prefetch::take(keys, read) {
            Some(early) => (early.issued, early.result),
            None => {
                let issued = inner.invalidations.issued();
                (issued, inner.store.read(keys, read).await)
            }
        };
        let Ok(lookup) = lookup else {
            return (self.bypass(keys.kind, format!("{}#bypass{issued}", keys.entry), compute))
                .await;
        };
        let generation = lookup.generation;
        let current = lookup.entry.filter(|e| e.generation == generation);
        match self.with_payload(keys, current, if_none_match).await {
            Some(entry) => Ok(self.serve_stored(keys, generation, ttl, entry, compute, hot)),
            None => self.serve_miss(keys, generation, ttl, compute, hot).await,
        }
    }

    /// A large view comes back header-only: enough for a 304; otherwise its payload
    /// comes from the in-process copy, or is fetched (`None`: treat as a miss).
    async fn with_payload(
        &self,
        keys: &EntryKeys,
        entry: Option<Envelope>,
        if_none_match: Option<&[String]>,
    ) -> Option<Envelope> {
        match entry {
            Some(e) if e.payload.is_none() => {
                if if_none_match.is_some_and(|c| if_none_match_matches(c, &e.etag)) {
                    Some(e)
                } else {
                    self.fill_payload(keys, e).await
                }
            }
            other => other,
        }
    }

    /// A stored entry of the current generation: a hit while fresh; past its soft
    /// expiry it is served stale while one refresh runs in the background.
    fn serve_stored<E, F, Fut>(
        &self,
        keys: &EntryKeys,
        generation: u64,
        ttl: Duration,
        entry: Envelope,
        compute: F,
        hot: HotKey<'_>,
    ) -> Served
    where
        E: Display + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
    {
        let inner = &self.inner;
        let outcome = if inner.clock.now_ms() < entry.soft_expiry_ms {
            CacheEvent::Hit
        } else {
            self.refresh_in_background(keys, generation, ttl, compute);
            CacheEvent::Stale
        };
        inner.metrics.cache_of(keys.kind, outcome);
        self.touch(hot, keys, ttl, entry.soft_expiry_ms);
        Served {
            envelope: Arc::new(entry),
            outcome,
        }
    }

    /// Stale-while-revalidate: starts one refresh of the key unless one runs (the
    /// flight is not awaited; it outlives this request).
    fn refresh_in_background<E, F, Fut>(
        &self,
        keys: &EntryKeys,
        generation: u64,
        ttl: Duration,
        compute: F,
    ) where
        E: Display + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
    {
        let inner = &self.inner;
        let flight_key = keys.flight(generation);
        if inner.flights.running(&flight_key) {
            return;
        }
        let _ = inner.flights.join_or_start(&flight_key, || {
            let mode = Mode::Refresh {
                lookahead: Duration::ZERO,
            };
            lead(
                Arc::clone(inner),
                keys.clone(),
                generation,
                ttl,
                mode,
                thunk_of(compute),
            )
            .boxed()
        });
    }

    /// No current entry: join this process's flight of the key, or lead one.
    async fn serve_miss<E, F, Fut>(
        &self,
        keys: &EntryKeys,
        generation: u64,
        ttl: Duration,
        compute: F,
        hot: HotKey<'_>,
    ) -> Result<Served, E>
    where
        E: Display + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
    {
        let inner = &self.inner;
        let (flight, started) = inner.flights.join_or_start(&keys.flight(generation), || {
            let thunk = thunk_of(compute.clone());
            lead(
                Arc::clone(inner),
                keys.clone(),
                generation,
                ttl,
                Mode::Miss,
                thunk,
            )
            .boxed()
        });
        match flight.await {
            Ok(FlightValue {
                envelope,
                computed_here,
            }) if envelope.payload.is_some() => {
                if let Some(payload) = &envelope.payload {
                    inner.payloads.put(&envelope.etag, payload);
                }
                let outcome = if started && computed_here {
                    CacheEvent::Miss
                } else {
                    CacheEvent::Coalesced
                };
                inner.metrics.cache_of(keys.kind, outcome);
                self.touch(hot, keys, ttl, envelope.soft_expiry_ms);
                Ok(Served { envelope, outcome })
            }
            Err(FlightError::Compute(e)) => match e.value.downcast_ref::<E>() {
                // Shared with this flight's callers, never stored.
                Some(e) => Err(e.clone()),
                // A flight of the same key with another error type (the warmer's):
                // compute with our own closure.
                None => self.direct(keys.kind, compute).await,
            },
            _ => self.direct(keys.kind, compute).await,
        }
    }

    /// The payload of a header-only entry: from the in-process copy by ETag, else
    /// one GET. `None` (treated as a miss) when the entry changed or went away.
    async fn fill_payload(&self, keys: &EntryKeys, header: Envelope) -> Option<Envelope> {
        let inner = &self.inner;
        if let Some(payload) = inner.payloads.get(&header.etag) {
            return Some(Envelope {
                payload: Some(payload),
                ..header
            });
        }
        match inner.store.entry(keys).await {
            Ok(Some(full)) if full.generation == header.generation => {
                if let Some(payload) = &full.payload {
                    inner.payloads.put(&full.etag, payload);
                }
                Some(full)
            }
            _ => None,
        }
    }

    /// Computes without the cache (the cache is off, or a shared flight could not
    /// serve), counted as a miss.
    pub(super) async fn direct<E, F, Fut>(&self, kind: CacheKind, compute: F) -> Result<Served, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        let payload = compute().await?;
        self.inner.metrics.cache_of(kind, CacheEvent::Miss);
        Ok(Served::computed(payload, CacheEvent::Miss))
    }

    /// A memoized value computed without the cache (its arguments cannot be keyed,
    /// or the stored value never decodes).
    pub(super) async fn compute_uncached<T, E, F, Fut>(&self, compute: F) -> Result<Memo<T>, E>
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let value = compute().await?;
        let json = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        Ok(Memo {
            etag: super::envelope::etag_of(&json),
            value,
            json,
            outcome: CacheEvent::Miss,
        })
    }

    /// The store failed, or the key's invalidation is pending: compute (one
    /// computation per `flight_key` in this process) and serve, without storing;
    /// counted as `Error`, never returned as one.
    async fn bypass<E, F, Fut>(
        &self,
        kind: CacheKind,
        flight_key: String,
        compute: F,
    ) -> Result<Served, E>
    where
        E: Display + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
    {
        let inner = &self.inner;
        inner.metrics.cache_of(kind, CacheEvent::Error);
        let thunk = thunk_of(compute.clone());
        let (flight, _) = inner.flights.join_or_start(&flight_key, || {
            async move { compute_only(thunk).await.map_err(FlightError::Compute) }.boxed()
        });
        match flight.await {
            Ok(v) if v.envelope.payload.is_some() => {
                return Ok(Served {
                    envelope: v.envelope,
                    outcome: CacheEvent::Error,
                })
            }
            Err(FlightError::Compute(e)) => {
                if let Some(e) = e.value.downcast_ref::<E>() {
                    return Err(e.clone());
                }
            }
            _ => {}
        }
        let payload = compute().await?;
        Ok(Served::computed(payload, CacheEvent::Error))
    }

    /// Counts an access to a registered recipe's entry (the warming scheduler keeps
    /// hot ones fresh).
    fn touch(&self, hot: HotKey<'_>, keys: &EntryKeys, ttl: Duration, soft: u64) {
        let Some((recipe, scope, args)) = hot else {
            return;
        };
        if self.inner.recipes.contains(recipe) {
            let record = || HotRecord {
                recipe: Arc::from(recipe),
                scope,
                args: Arc::from(args),
                keys: keys.clone(),
                ttl,
            };
            self.inner.hot.touch(record, &keys.entry, soft);
        }
    }
}
