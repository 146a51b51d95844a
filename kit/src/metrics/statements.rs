//! Statements per request. The request's middleware scopes a [`RequestStatements`] around
//! the handler (a task-local), and the database layer's Diesel instrumentation charges
//! each statement to it through [`RequestStatements::charge_current`], so a pooled
//! connection shared over time by many requests charges each statement to the right
//! one. What counts as a statement (transaction control does not) is the database
//! layer's call; this module only keeps the count and the time. The Redis handle
//! charges its commands' time the same way ([`RequestStatements::charge_redis_current`]):
//! together they are the request's time spent waiting on the database and on Redis.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

tokio::task_local! {
    static CURRENT: RequestStatements;
}

/// The statements of one request: count and total time. Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct RequestStatements {
    inner: Arc<Inner>,
}

#[derive(Default, Debug)]
struct Inner {
    count: AtomicU64,
    nanos: AtomicU64,
    redis_nanos: AtomicU64,
}

impl RequestStatements {
    /// Statements charged so far.
    pub fn count(&self) -> u64 {
        self.inner.count.load(Ordering::Relaxed)
    }

    /// Total time spent in counted statements.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.inner.nanos.load(Ordering::Relaxed))
    }

    /// Total time spent waiting on Redis commands.
    pub fn redis_elapsed(&self) -> Duration {
        Duration::from_nanos(self.inner.redis_nanos.load(Ordering::Relaxed))
    }

    fn record(&self, nanos: u64) {
        self.inner.count.fetch_add(1, Ordering::Relaxed);
        self.inner.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Runs `fut` with statements charged to `self`.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// The counter of the request being handled, if any.
    pub fn current() -> Option<RequestStatements> {
        CURRENT.try_with(|q| q.clone()).ok()
    }

    /// Charges one statement that took `nanos` to the request being handled; does
    /// nothing outside a request (start-up, the warmer, background refreshes).
    pub fn charge_current(nanos: u64) {
        let _ = CURRENT.try_with(|q| q.record(nanos));
    }

    /// Charges one Redis command that took `nanos` to the request being handled.
    pub fn charge_redis_current(nanos: u64) {
        let _ = CURRENT.try_with(|q| q.inner.redis_nanos.fetch_add(nanos, Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn statements_are_charged_to_the_scoped_request_only() {
        RequestStatements::charge_current(5);
        let statements = RequestStatements::default();
        statements
            .clone()
            .scope(async {
                RequestStatements::charge_current(1_000);
                RequestStatements::charge_current(2_000);
                RequestStatements::charge_redis_current(700);
                assert_eq!(RequestStatements::current().map(|q| q.count()), Some(2));
            })
            .await;
        assert_eq!(statements.count(), 2);
        assert_eq!(statements.elapsed(), Duration::from_nanos(3_000));
        assert_eq!(statements.redis_elapsed(), Duration::from_nanos(700));
        assert!(RequestStatements::current().is_none());
    }
}
