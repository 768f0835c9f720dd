//! The read-through path of every cached read.
//!
//! A hit is returned as it is; a miss runs the load once per cache slot (single flight),
//! fills the slot and returns the value; a failing cache means a plain load, not cached.
//!
//! Cached values are framed by the service, so that "there was nothing" can be cached as
//! well as an encoded result: `+` followed by the encoded bytes, or `-` alone. The framing
//! has a version ([`CACHE_FORMAT`](crate::cache_key::CACHE_FORMAT)) in every key.

use std::future::Future;
use std::time::Duration;

use super::{cache_warning, TransactionService};
use crate::cache_key::{CacheKey, CacheLookup, CacheSlot};
use crate::error::{DomainError, InternalError};

const FOUND: char = '+';
const EMPTY: &str = "-";

/// Frames a loaded value for the cache.
fn frame(value: Option<&str>) -> String {
    match value {
        Some(encoded) => {
            let mut framed = String::with_capacity(encoded.len() + 1);
            framed.push(FOUND);
            framed.push_str(encoded);
            framed
        }
        None => EMPTY.to_owned(),
    }
}

/// Reads a framed value back, without copying the encoded bytes to a new buffer.
fn unframe(mut framed: String) -> Result<Option<String>, DomainError> {
    if framed == EMPTY {
        return Ok(None);
    }
    if !framed.starts_with(FOUND) {
        return Err(DomainError::Internal(InternalError::CorruptCacheEntry));
    }
    framed.remove(0);
    Ok(Some(framed))
}

impl TransactionService {
    /// Reads `key` through the cache; `load` runs on a miss (or a cache failure) and
    /// returns the encoded value, or `None` when there is nothing (cached too).
    pub(super) async fn read_through<F, Fut>(
        &self,
        key: CacheKey,
        ttl: Duration,
        load: F,
    ) -> Result<Option<String>, DomainError>
    where
        F: FnOnce(TransactionService) -> Fut,
        Fut: Future<Output = Result<Option<String>, DomainError>> + Send + 'static,
    {
        let key = key.in_format(self.ports.encoder.format());
        let slot = match self.ports.cache.lookup(&key).await {
            Ok(CacheLookup::Hit(framed)) => return unframe(framed),
            Ok(CacheLookup::Miss(slot)) => Some(slot),
            Err(e) => {
                cache_warning("lookup", &e);
                None
            }
        };
        let loading = load(self.clone());
        let Some(slot) = slot else {
            // The cache failed: no slot to share a flight on; go straight to the store.
            return loading.await;
        };
        let flight_key = slot.as_str().to_owned();
        let service = self.clone();
        let work = async move {
            let framed = frame(loading.await?.as_deref());
            service.fill(slot, framed.clone(), ttl).await;
            Ok(framed)
        };
        unframe(self.flights.run(&flight_key, work).await?)
    }

    async fn fill(&self, slot: CacheSlot, framed: String, ttl: Duration) {
        if let Err(e) = self.ports.cache.put(&slot, framed, ttl).await {
            cache_warning("put", &e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_round_trips_values_and_absence() {
        assert_eq!(
            unframe(frame(Some("{\"a\":1}"))).unwrap().as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(unframe(frame(Some(""))).unwrap().as_deref(), Some(""));
        assert_eq!(unframe(frame(None)).unwrap(), None);
        assert!(unframe("null".to_owned()).is_err());
    }
}
