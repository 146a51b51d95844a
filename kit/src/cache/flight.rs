//! The cache's single-flight: one computation per entry and generation at a time in
//! this process, on the kit's [`SingleFlight`] (spawned work, so callers that go away
//! never strand it). A hit never touches it; errors are shared with the callers of
//! that flight and never stored.

use super::envelope::Envelope;
use crate::flight::SingleFlight;
use futures_util::future::{BoxFuture, FutureExt};
use std::any::Any;
use std::sync::Arc;

/// A computation's error, type-erased so flights of any error type share one map;
/// callers downcast it back to their own error type.
#[derive(Clone)]
pub struct ErasedError {
    /// The error itself (downcast to the caller's type).
    pub value: Arc<dyn Any + Send + Sync>,
    /// Its `Display`, for logs.
    pub message: Arc<str>,
}

/// Why a flight produced no value.
#[derive(Clone)]
pub enum FlightError {
    /// The computation failed; shared with this flight's callers only.
    Compute(ErasedError),
    /// The computation panicked or its runtime shut down.
    Aborted,
    /// A background refresh found another holder of the lease and did nothing.
    Skipped,
}

/// A flight's value and whether this process computed it.
#[derive(Clone)]
pub struct FlightValue {
    /// The entry served (not stored when computed outside the cache).
    pub envelope: Arc<Envelope>,
    /// False when another process computed it (we waited on its lease).
    pub computed_here: bool,
}

/// What a flight's callers receive.
pub type FlightResult = Result<FlightValue, FlightError>;

/// Cache flights in progress, by flight key (entry key + generation): the kit's
/// [`SingleFlight`] with the cache's outcome.
#[derive(Default)]
pub struct Flights(Arc<SingleFlight<String, FlightResult>>);

impl Flights {
    /// True when a computation for `key` is running.
    pub fn running(&self, key: &str) -> bool {
        self.0.running(key)
    }

    /// Joins the flight for `key`, or starts one with `start()` in a spawned task.
    /// Returns the shared result and whether this call started it. Must be called
    /// inside a Tokio runtime.
    pub fn join_or_start(
        &self,
        key: &str,
        start: impl FnOnce() -> BoxFuture<'static, FlightResult>,
    ) -> (BoxFuture<'static, FlightResult>, bool) {
        let (flight, started) = self.0.join_or_start(key, start);
        let outcome = async move { flight.await.unwrap_or(Err(FlightError::Aborted)) };
        (outcome.boxed(), started)
    }
}
