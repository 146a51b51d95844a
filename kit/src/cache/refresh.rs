//! Recomputing an entry without a request: the application registers its recipes
//! (`register_view`, `register_memo`, `preload_view`), the start-up preload runs
//! them, and [`Cache::refresh`], which the warming scheduler and the preload use,
//! recomputes one entry under the same lease as a miss.

use super::flight::{ErasedError, FlightError};
use super::hot::HotRecord;
use super::keys::{self, Scope};
use super::lease::{lead, Mode};
use super::recipes::{memo_recipe_id, view_recipe_id, PreloadFn, Recipe, RecipeFn, RecipeKind};
use super::store::Read;
use super::thunk::Thunk;
use super::Cache;
use bytes::Bytes;
use futures_util::future::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What a background refresh of one entry did (warming, preload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Recomputed and stored by this process.
    Refreshed,
    /// Fresh enough already (another process refreshed it, or not due yet).
    NotDue,
    /// Another computation of it was running (here or elsewhere).
    Skipped,
    /// The computation or the store failed (counted).
    Failed,
}

impl Cache {
    /// Registers how to recompute a view without a request (warming, preload).
    /// `compute` receives the scope and the normalized query string.
    pub fn register_view<E, F, Fut>(&self, namespace: &str, route: &str, ttl: Duration, compute: F)
    where
        E: Display,
        F: Fn(Scope, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
    {
        let compute: RecipeFn = Arc::new(move |scope, args: Arc<str>| {
            let fut = compute(scope, args.to_string());
            async move { fut.await.map_err(|e| e.to_string()) }.boxed()
        });
        let recipe = Recipe {
            kind: RecipeKind::View {
                namespace: Arc::from(namespace),
                route: Arc::from(route),
            },
            ttl,
            compute,
        };
        (self.inner.recipes).add(view_recipe_id(namespace, route), recipe);
    }

    /// Registers how to recompute a memoized function from its arguments (warming).
    pub fn register_memo<A, T, E, F, Fut>(&self, name: &str, ttl: Duration, compute: F)
    where
        A: DeserializeOwned,
        T: Serialize,
        E: Display,
        F: Fn(Scope, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.register_memo_bytes(name, ttl, move |scope, args: A| {
            let fut = compute(scope, args);
            async move {
                let value = fut.await.map_err(|e| e.to_string())?;
                serde_json::to_vec(&value)
                    .map(Bytes::from)
                    .map_err(|e| e.to_string())
            }
        });
    }

    /// Registers how to recompute a [`Cache::memoize_bytes`] function (warming).
    pub fn register_memo_bytes<A, E, F, Fut>(&self, name: &str, ttl: Duration, compute: F)
    where
        A: DeserializeOwned,
        E: Display,
        F: Fn(Scope, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
    {
        let compute: RecipeFn = Arc::new(move |scope, args: Arc<str>| {
            let fut = serde_json::from_str::<A>(&args).map(|a| compute(scope, a));
            async move {
                fut.map_err(|e| e.to_string())?
                    .await
                    .map_err(|e| e.to_string())
            }
            .boxed()
        });
        let recipe = Recipe {
            kind: RecipeKind::Memo {
                name: Arc::from(name),
            },
            ttl,
            compute,
        };
        (self.inner.recipes).add(memo_recipe_id(name), recipe);
    }

    /// Registers the entries of a registered view to compute at start-up: `list`
    /// returns (scope, query string) pairs, e.g. every tenant's catalog.
    pub fn preload_view<F, Fut>(&self, namespace: &str, route: &str, list: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<(Scope, String)>> + Send + 'static,
    {
        let list: PreloadFn = Arc::new(move || list().boxed());
        (self.inner.recipes).add_preload(view_recipe_id(namespace, route), list);
    }

    /// Runs every registered preload; returns how many entries were computed.
    pub async fn preload(&self) -> usize {
        let mut refreshed = 0;
        for (id, list) in self.inner.recipes.preloads() {
            let Some(recipe) = self.inner.recipes.get(&id) else {
                continue;
            };
            for (scope, args) in list().await {
                let record = self.record_for(&id, &recipe, scope, &args);
                if self.refresh(&record, Duration::ZERO).await == RefreshOutcome::Refreshed {
                    refreshed += 1;
                }
            }
        }
        refreshed
    }

    fn record_for(&self, id: &str, recipe: &Recipe, scope: Scope, args: &str) -> HotRecord {
        let prefix = &self.inner.prefix;
        let keys = match &recipe.kind {
            RecipeKind::View { namespace, route } => {
                keys::view_keys(prefix, scope, namespace, route, args)
            }
            RecipeKind::Memo { name } => keys::memo_keys(prefix, scope, name, args),
        };
        HotRecord {
            recipe: Arc::from(id),
            scope,
            args: Arc::from(args),
            keys,
            ttl: recipe.ttl,
        }
    }

    /// Recomputes `record`'s entry if it is missing or its soft expiry is within
    /// `lookahead`, under the same lease as a miss (one refresh per key per cluster).
    pub async fn refresh(&self, record: &HotRecord, lookahead: Duration) -> RefreshOutcome {
        let inner = &self.inner;
        if !inner.config.enabled {
            return RefreshOutcome::NotDue;
        }
        if (inner.invalidations)
            .blocking(&record.keys.generation)
            .is_some()
        {
            // Its invalidation is pending: nothing of it is read or stored here.
            return RefreshOutcome::Skipped;
        }
        let Some(recipe) = inner.recipes.get(&record.recipe) else {
            return RefreshOutcome::Skipped;
        };
        let Ok(lookup) = inner.store.read(&record.keys, Read::Whole).await else {
            return RefreshOutcome::Failed;
        };
        let horizon = inner.clock.now_ms() + lookahead.as_millis() as u64;
        let current = (lookup.entry.as_ref()).filter(|e| e.generation == lookup.generation);
        if let Some(e) = current {
            let soft_expiry_ms = e.soft_expiry_ms;
            inner
                .hot
                .set_soft_expiry(&record.keys.entry, soft_expiry_ms);
            if soft_expiry_ms > horizon {
                return RefreshOutcome::NotDue;
            }
        }
        self.refresh_now(record, &recipe, lookup.generation, lookahead)
            .await
    }

    /// Leads a refresh flight of `record`'s entry at `generation`, unless one runs.
    async fn refresh_now(
        &self,
        record: &HotRecord,
        recipe: &Recipe,
        generation: u64,
        lookahead: Duration,
    ) -> RefreshOutcome {
        let inner = &self.inner;
        let thunk = recipe_thunk(recipe, record);
        let (flight, started) =
            inner
                .flights
                .join_or_start(&record.keys.flight(generation), || {
                    let (keys, mode) = (record.keys.clone(), Mode::Refresh { lookahead });
                    lead(Arc::clone(inner), keys, generation, record.ttl, mode, thunk).boxed()
                });
        if !started {
            return RefreshOutcome::Skipped;
        }
        match flight.await {
            Ok(v) => {
                let soft_expiry_ms = v.envelope.soft_expiry_ms;
                inner
                    .hot
                    .set_soft_expiry(&record.keys.entry, soft_expiry_ms);
                if v.computed_here {
                    RefreshOutcome::Refreshed
                } else {
                    RefreshOutcome::NotDue
                }
            }
            Err(FlightError::Skipped) => RefreshOutcome::Skipped,
            Err(_) => RefreshOutcome::Failed,
        }
    }
}

/// The recipe's computation for `record`'s scope and arguments, as a flight runs it.
fn recipe_thunk(recipe: &Recipe, record: &HotRecord) -> Thunk {
    let compute = Arc::clone(&recipe.compute);
    let (scope, args) = (record.scope, Arc::clone(&record.args));
    Box::new(move || {
        async move {
            compute(scope, args).await.map_err(|message| ErasedError {
                value: Arc::new(message.clone()),
                message: Arc::from(message),
            })
        }
        .boxed()
    })
}
