//! Single flight: concurrent cache misses on the same slot make one store call.
//!
//! Flights are keyed by the [`CacheSlot`](crate::CacheSlot), which includes the user's
//! cache generation. A request that arrives after a write looks up a new generation, gets
//! a new slot, and so starts its own flight: it can never join a read that began before
//! the write (read-your-writes holds).
//!
//! The map holds flights weakly: when every request waiting on a flight is cancelled, the
//! flight is dropped with them and the next request starts afresh.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::future::{BoxFuture, FutureExt, Shared, WeakShared};

use crate::error::DomainError;

type Flight<T> = BoxFuture<'static, Result<T, DomainError>>;

/// Above this many remembered flights, dead ones are swept on the next insert.
const SWEEP_ABOVE: usize = 1024;

pub(crate) struct SingleFlight<T> {
    // (Debug is implemented by hand below: the flights themselves are opaque futures.)
    inflight: Mutex<HashMap<String, WeakShared<Flight<T>>>>,
    /// Requests that joined a flight under way instead of starting one.
    joins: AtomicU64,
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            inflight: Mutex::new(HashMap::new()),
            joins: AtomicU64::new(0),
        }
    }
}

impl<T> SingleFlight<T> {
    /// How many requests joined a flight under way so far.
    pub(crate) fn joins(&self) -> u64 {
        self.joins.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, WeakShared<Flight<T>>>> {
        // The map is consistent at every point, so a poisoned lock is still usable.
        self.inflight.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    /// Runs `work` unless a flight for `key` is already under way, in which case this
    /// waits for that one's result instead.
    pub(crate) async fn run<F>(self: &Arc<Self>, key: &str, work: F) -> Result<T, DomainError>
    where
        F: Future<Output = Result<T, DomainError>> + Send + 'static,
    {
        let flight: Shared<Flight<T>> = {
            let mut map = self.lock();
            match map.get(key).and_then(WeakShared::upgrade) {
                Some(flight) => {
                    self.joins.fetch_add(1, Ordering::Relaxed);
                    flight
                }
                None => {
                    let me = Arc::clone(self);
                    let owned_key = key.to_owned();
                    let flight = async move {
                        let result = work.await;
                        me.lock().remove(&owned_key);
                        result
                    }
                    .boxed()
                    .shared();
                    if map.len() >= SWEEP_ABOVE {
                        map.retain(|_, weak| weak.upgrade().is_some());
                    }
                    if let Some(weak) = flight.downgrade() {
                        map.insert(key.to_owned(), weak);
                    }
                    flight
                }
            }
        };
        flight.await
    }

    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.lock().len()
    }
}

impl<T> std::fmt::Debug for SingleFlight<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SingleFlight { .. }")
    }
}
