//! The warming scheduler: an actix actor that, on an interval, asks the cache's
//! hot-key counts (`cache::hot`) which hot entries approach their soft expiry and
//! recomputes them before it, under the same lease as a miss, so users of hot keys
//! never see a miss; cold keys are left to expire. A semaphore bounds how many
//! refreshes run at once (its database load). At start-up it runs the registered
//! preloads (every tenant's catalog). Several processes may run it: the lease keeps
//! one refresh per key per cluster. It writes the cache only through `Cache`.
//!
//! Hits never pass through this actor: the cache counts accesses in a sharded map,
//! and the actor only reads it once per interval.
//!
//! The actor runs under a supervisor (`crate::supervise`): a round that panics (a
//! tick, or the preload) stops it, the supervisor restarts it, and the restart is
//! counted as `brisk_actor_restarts_total{actor="warmer"}`. A preload that panicked
//! runs again after the restart; one that completed does not. Its owner (startup)
//! holds its address and sends [`Shutdown`] at exit.

#[cfg(test)]
mod tests;

use crate::cache::{Cache, RefreshOutcome};
use crate::supervise::{self, Background, Supervision};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Stops the scheduler's rounds (refreshes already running finish on their own); the
/// actor ends when its owner drops its address.
pub use crate::supervise::Shutdown;

/// The scheduler's name in logs and in `brisk_actor_restarts_total`.
pub const ACTOR: &str = "warmer";

/// Default time between two rounds.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Default number of refreshes running at once.
pub const DEFAULT_BUDGET: usize = 4;
/// Default decayed access count from which an entry is hot.
pub const DEFAULT_HOT_ACCESSES: f64 = 3.0;

/// Scheduler settings (`config` builds them from the command line).
#[derive(Debug, Clone)]
pub struct WarmConfig {
    /// Time between two rounds.
    pub interval: Duration,
    /// Refreshes running at once, at most.
    pub budget: usize,
    /// Decayed access count from which an entry is hot.
    pub hot_accesses: f64,
}

impl Default for WarmConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            budget: DEFAULT_BUDGET,
            hot_accesses: DEFAULT_HOT_ACCESSES,
        }
    }
}

impl WarmConfig {
    /// How long before its soft expiry a hot entry is refreshed: two rounds, or a
    /// fifth of its TTL if that is longer (room for a slow computation).
    pub fn lookahead(&self, ttl: Duration) -> Duration {
        (self.interval * 2).max(ttl / 5)
    }
}

/// The scheduler actor. Start it once per process with [`Warmer::start_with`].
pub struct Warmer {
    cache: Cache,
    config: WarmConfig,
    budget: Arc<Semaphore>,
    supervision: Supervision,
    /// The start-up preload completed (a restart does not run it again).
    preloaded: bool,
    /// The preload and the ticks, cancelled by [`Shutdown`].
    work: Vec<SpawnHandle>,
}

impl Warmer {
    /// Starts the scheduler under a supervisor on the current actix arbiter and returns
    /// its address; restarts are counted in the cache's metrics.
    pub fn start_with(cache: Cache, config: WarmConfig) -> Addr<Warmer> {
        let budget = Arc::new(Semaphore::new(config.budget.max(1)));
        let supervision = Supervision::new(ACTOR, cache.metrics().clone());
        supervise::start(move |_ctx| Warmer {
            cache,
            config,
            budget,
            supervision,
            preloaded: false,
            work: Vec::new(),
        })
    }

    /// The start-up preload, after `delay`, under one budget permit so start-up does
    /// not flood the pool.
    fn preload(&self, delay: Duration) -> impl std::future::Future<Output = ()> + 'static {
        let cache = self.cache.clone();
        let budget = Arc::clone(&self.budget);
        async move {
            tokio::time::sleep(delay).await;
            let _permit = budget.acquire_owned().await;
            let n = cache.preload().await;
            log::info!("cache preload computed {n} entries");
        }
    }

    fn tick(&mut self) {
        let config = self.config.clone();
        let due = self
            .cache
            .hot()
            .due(self.cache.clock().now_ms(), config.hot_accesses, |ttl| {
                config.lookahead(ttl)
            });
        for (record, _count) in due {
            // Hottest first; what does not fit in the budget waits for the next round.
            let Ok(permit) = Arc::clone(&self.budget).try_acquire_owned() else {
                break;
            };
            let cache = self.cache.clone();
            let lookahead = config.lookahead(record.ttl);
            tokio::spawn(async move {
                let _permit = permit;
                if cache.refresh(&record, lookahead).await == RefreshOutcome::Failed {
                    log::warn!("warming of {} failed", record.keys.entry);
                }
            });
        }
    }
}

impl Actor for Warmer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if !self.preloaded {
            let preload = self.preload(self.supervision.resume_delay());
            let preload = supervise::guarded(ACTOR, preload).map(|done, act: &mut Self, _| {
                if done.is_some() {
                    act.preloaded = true;
                    act.supervision.round_completed();
                }
            });
            self.work.push(ctx.spawn(preload));
        }
        let ticks = ctx.run_interval(self.config.interval, |act, ctx| {
            let tick = || {
                supervise::injected_fault(ACTOR);
                act.tick()
            };
            if supervise::round(ctx, ACTOR, tick).is_some() {
                act.supervision.round_completed();
            }
        });
        self.work.push(ticks);
    }
}

impl Supervised for Warmer {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // The restarted context dropped the old preload and ticks.
        self.work.clear();
        self.supervision.restarting();
    }
}

impl Background for Warmer {
    fn supervision(&mut self) -> &mut Supervision {
        &mut self.supervision
    }
}

impl Handler<Shutdown> for Warmer {
    type Result = ();

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Self::Context) {
        for handle in self.work.drain(..) {
            ctx.cancel_future(handle);
        }
    }
}

#[cfg(test)]
mod supervision_tests;
