//! The poller: check a condition until it holds or a deadline passes, with a short
//! back-off between checks (1 ms, doubling up to [`MAX_BACKOFF`]), so a caller never
//! sleeps a fixed time "for the server to get there".
//!
//! Async checks go to [`wait_until`] (how long it took), [`eventually`] (a bool) or
//! [`until`] (panics naming what never happened); a plain closure whose answer is
//! ready at once is passed as `|| std::future::ready(cond())`. [`poll_until`] is the
//! blocking form, for threads that are not on an async runtime.

use std::future::Future;
use std::time::Duration;

/// The first pause between two checks; each next pause doubles, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(1);

/// The longest pause between two checks.
pub const MAX_BACKOFF: Duration = Duration::from_millis(25);

/// The pauses between checks: 1, 2, 4, 8, 16, 25, 25, … ms, never past `left`.
#[derive(Debug, Clone, Copy)]
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(FIRST_BACKOFF)
    }

    /// The next pause, at most `left`.
    fn next(&mut self, left: Duration) -> Duration {
        let pause = self.0.min(left);
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        pause
    }
}

/// Checks `check` until it returns true or `timeout` passes; how long that took, or
/// `None` on timeout. The check runs once more at the deadline.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    let mut backoff = Backoff::new();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return None;
        }
        tokio::time::sleep(backoff.next(left)).await;
    }
}

/// [`wait_until`] as a bool: true when `check` held within `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_until(timeout, check).await.is_some()
}

/// [`wait_until`] that fails the test: panics with "timed out waiting for `what`"
/// when `check` has not held within `timeout`.
pub async fn until<F, Fut>(what: &str, timeout: Duration, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    assert!(
        eventually(timeout, check).await,
        "timed out waiting for {what} ({timeout:?})"
    );
}

/// The blocking poller: checks `check` on this thread until it returns true or
/// `timeout` passes; true when it held. The check runs once more at the deadline.
pub fn poll_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    let mut backoff = Backoff::new();
    loop {
        if check() {
            return true;
        }
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(backoff.next(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::ready;
    use std::time::Instant;

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_never_past_the_deadline() {
        let mut b = Backoff::new();
        let long = Duration::from_secs(1);
        let pauses: Vec<u64> = (0..7).map(|_| b.next(long).as_millis() as u64).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 25, 25]);
        assert_eq!(b.next(Duration::from_millis(3)), Duration::from_millis(3));
    }

    #[tokio::test]
    async fn wait_until_reports_how_long_it_took_or_none_at_the_deadline() {
        let start = Instant::now();
        let took = wait_until(Duration::from_secs(5), || {
            ready(start.elapsed() >= Duration::from_millis(60))
        })
        .await
        .expect("held within 5 s");
        assert!(took >= Duration::from_millis(60) && took < Duration::from_secs(1));
        let mut checks = 0;
        let never = wait_until(Duration::from_millis(100), || {
            checks += 1;
            ready(false)
        })
        .await;
        assert_eq!(never, None);
        assert!(start.elapsed() >= Duration::from_millis(160));
        assert!((2..=20).contains(&checks), "{checks} checks in 100 ms");
    }

    #[tokio::test]
    async fn eventually_and_until_agree_with_wait_until() {
        assert!(eventually(Duration::from_millis(50), || ready(true)).await);
        assert!(!eventually(Duration::from_millis(20), || ready(false)).await);
        until("a true check", Duration::from_millis(10), || ready(true)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "timed out waiting for the impossible")]
    async fn until_panics_naming_what_never_happened() {
        until("the impossible", Duration::from_millis(20), || ready(false)).await;
    }

    #[test]
    fn poll_until_blocks_until_true_or_the_deadline() {
        let start = Instant::now();
        assert!(poll_until(Duration::from_secs(5), || {
            start.elapsed() >= Duration::from_millis(30)
        }));
        let start = Instant::now();
        assert!(!poll_until(Duration::from_millis(50), || false));
        assert!(start.elapsed() >= Duration::from_millis(50));
    }
}
