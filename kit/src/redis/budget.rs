//! A request pays for a broken Redis at most once.
//!
//! One request may call Redis several times, one after another: the API-key memo,
//! the rate limiter, the cache read, a write's post-commit invalidations. Each call
//! has its own timeout and each user (cache, limiter) its own breaker, so while Redis
//! hangs a request could wait one timeout per call. A [`RedisBudget`] is scoped
//! around each request (a task-local set by the kit's middleware): the first Redis
//! call of the request that fails marks it spent, and every later call of the same
//! request skips Redis and takes its fallback at once (the cache computes, the
//! limiter applies its failure policy, an invalidation goes to the retrier's pending
//! set). Work outside a request (the warmer, the retrier, tests) has no budget and
//! always tries.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

tokio::task_local! {
    static CURRENT: RedisBudget;
}

/// Whether Redis already failed for the request being handled. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct RedisBudget {
    spent: Arc<AtomicBool>,
}

impl RedisBudget {
    /// Runs `fut` (a request's handling) under this budget.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// Redis failed earlier in this request.
    pub fn is_spent(&self) -> bool {
        self.spent.load(Ordering::Relaxed)
    }
}

/// True when the current request already saw a Redis call fail: skip Redis. False
/// outside a request.
pub fn spent() -> bool {
    CURRENT.try_with(RedisBudget::is_spent).unwrap_or(false)
}

/// Records that a Redis call of the current request failed (timed out, refused,
/// errored); the rest of the request skips Redis. Does nothing outside a request.
pub fn failed() {
    let _ = CURRENT.try_with(|b| b.spent.store(true, Ordering::Relaxed));
}

/// Runs `fut`, a single flight several requests wait on, under a budget of its own
/// (spent from the start if the calling request's is), and yields its output with
/// whether Redis failed inside it. Each request that waits on the flight passes that to
/// [`adopt`]: a flight is polled from whichever request's task happens to drive it, so
/// without this a waiter would not know Redis had failed and would pay a timeout of its
/// own afterwards. Call it from the request that starts the flight.
pub fn in_flight<F: Future>(fut: F) -> impl Future<Output = (F::Output, bool)> {
    let budget = RedisBudget {
        spent: Arc::new(AtomicBool::new(spent())),
    };
    async move {
        let out = budget.clone().scope(fut).await;
        (out, budget.is_spent())
    }
}

/// Spends the current request's budget when the flight it waited on saw Redis fail.
pub fn adopt(failed_in_flight: bool) {
    if failed_in_flight {
        failed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn a_failure_spends_the_budget_of_its_request_only() {
        assert!(!spent());
        failed(); // outside a request: nothing to spend
        assert!(!spent());
        let one = RedisBudget::default();
        let seen = one
            .clone()
            .scope(async {
                let before = spent();
                failed();
                (before, spent())
            })
            .await;
        assert_eq!(seen, (false, true));
        assert!(one.is_spent());
        let other = RedisBudget::default().scope(async { spent() }).await;
        assert!(!other, "another request has its own budget");
    }

    #[tokio::test]
    async fn a_failure_inside_a_shared_flight_reaches_every_request_that_waited_on_it() {
        // The flight is driven by one request's task; another request waits on it.
        let flight = CURRENT
            .sync_scope(RedisBudget::default(), || in_flight(async { failed() }))
            .boxed()
            .shared();
        let waiter = RedisBudget::default();
        let seen = waiter
            .clone()
            .scope(async {
                let ((), failed_in_flight) = flight.clone().await;
                adopt(failed_in_flight);
                spent()
            })
            .await;
        assert!(seen, "the waiter skips Redis after the flight's failure");
        let driver = RedisBudget::default();
        let (_, failed_in_flight) = driver.clone().scope(flight).await;
        assert!(
            failed_in_flight && !driver.is_spent(),
            "adopted only when asked"
        );
        // A flight started by a request whose budget is spent starts spent.
        let spent_first = RedisBudget::default()
            .scope(async {
                failed();
                in_flight(async { spent() }).await.0
            })
            .await;
        assert!(spent_first);
    }
}
