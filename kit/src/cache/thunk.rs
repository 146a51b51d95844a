//! The caller's computation as the cache runs it: its value turned to JSON for a
//! memoized entry (`to_json`), its error type erased so one flight can carry any
//! caller's (`Thunk`), or run outside the cache (`compute_only`). Below both the
//! read path (`serve`) and the lease protocol (`lease`), which each hand one to the
//! other.

use super::envelope::Envelope;
use super::flight::{ErasedError, FlightValue};
use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt};
use serde::Serialize;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

/// A computation with its error type erased, as a flight runs it.
pub(super) type Thunk = Box<dyn FnOnce() -> BoxFuture<'static, Result<Bytes, ErasedError>> + Send>;

fn erase<E: Display + Send + Sync + 'static>(e: E) -> ErasedError {
    ErasedError {
        message: Arc::from(e.to_string()),
        value: Arc::new(e),
    }
}

/// `compute` as a flight runs it: boxed, its error erased.
pub(super) fn thunk_of<E, F, Fut>(compute: F) -> Thunk
where
    E: Display + Send + Sync + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
{
    Box::new(move || async move { compute().await.map_err(erase) }.boxed())
}

/// `compute` with its value serialized to JSON (what a memoized entry stores).
pub(super) fn to_json<T, E, F, Fut>(
    compute: F,
) -> impl FnOnce() -> BoxFuture<'static, Result<Bytes, E>> + Clone + Send + 'static
where
    T: Serialize + Send + 'static,
    E: Send + 'static,
    F: FnOnce() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    move || {
        async move {
            let value = compute().await?;
            // Serializing a derive(Serialize) value into a Vec cannot fail short of
            // a map with non-string keys; that is a programming error.
            let json = serde_json::to_vec(&value)
                .unwrap_or_else(|e| panic!("memoized value is not JSON: {e}"));
            Ok(Bytes::from(json))
        }
        .boxed()
    }
}

/// Runs `thunk` outside the cache: computed here, not stored.
pub(super) async fn compute_only(thunk: Thunk) -> Result<FlightValue, ErasedError> {
    let payload = thunk().await?;
    Ok(FlightValue {
        envelope: Arc::new(Envelope::new(0, 0, payload)),
        computed_here: true,
    })
}
