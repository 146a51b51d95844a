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

#[cfg(test)]
mod tests {
    use super::*;

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
}
