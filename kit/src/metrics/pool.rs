//! Pool gauges: a provider per connection pool (database, Redis), registered once at
//! start-up and sampled only when `/metrics` or the live page is read, so the request
//! path never pays for them.

use serde::Serialize;

/// One reading of a connection pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PoolSample {
    /// Configured maximum connections.
    pub max_size: u64,
    /// Connections currently open.
    pub connections: u64,
    /// Open connections not checked out.
    pub idle: u64,
    /// Callers waiting for a connection right now (`None`: the pool cannot tell).
    pub waiting: Option<u64>,
    /// Check-outs that gave up waiting since start (`None`: the pool cannot tell).
    pub acquire_timeouts: Option<u64>,
}

impl PoolSample {
    /// Connections checked out by requests.
    pub fn in_use(&self) -> u64 {
        self.connections.saturating_sub(self.idle)
    }
}

/// Something that can report its pool's state. Implemented for closures returning a
/// [`PoolSample`] and for [`Bb8Pool`].
pub trait PoolGauges: Send + Sync + 'static {
    fn sample(&self) -> PoolSample;
}

impl<F> PoolGauges for F
where
    F: Fn() -> PoolSample + Send + Sync + 'static,
{
    fn sample(&self) -> PoolSample {
        self()
    }
}

/// Gauges of a bb8 pool (the database pool, a bb8-redis pool): open and idle connections
/// from `state()`, waiting callers and acquire timeouts from its statistics.
pub struct Bb8Pool<M: bb8::ManageConnection> {
    pool: bb8::Pool<M>,
    max_size: u32,
}

impl<M: bb8::ManageConnection> Bb8Pool<M> {
    /// `max_size` is the size the pool was built with (bb8 does not report it back).
    pub fn new(pool: bb8::Pool<M>, max_size: u32) -> Self {
        Self { pool, max_size }
    }
}

impl<M: bb8::ManageConnection> PoolGauges for Bb8Pool<M> {
    fn sample(&self) -> PoolSample {
        let state = self.pool.state();
        PoolSample {
            max_size: u64::from(self.max_size),
            connections: u64::from(state.connections),
            idle: u64::from(state.idle_connections),
            waiting: Some(state.statistics.pending_gets()),
            acquire_timeouts: Some(state.statistics.get_timed_out),
        }
    }
}
