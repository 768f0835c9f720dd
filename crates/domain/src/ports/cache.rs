//! The cache port, and the cache that holds nothing.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::cache_key::{CacheKey, CacheLookup, CacheSlot};
use crate::error::CacheError;
use crate::id::UserId;

/// A read-through cache of per-user reads, with O(1) per-user invalidation.
///
/// Contract: after `invalidate_user(u)` returns `Ok`, no lookup of `u` hits a value put
/// before it — for any page, limit or range. An adapter that can fail logs its failures
/// itself, rate-limited; the service treats every error as a miss. A slot from a lookup
/// that happened before an invalidation may still be written, but such a value is never
/// returned afterwards. Every call is bounded in time; a slow or broken cache returns
/// [`CacheError::Unavailable`]. Values are opaque text written by the service.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Cache: Send + Sync {
    /// Looks a key up. A miss hands back the slot to fill.
    async fn lookup(&self, key: &CacheKey) -> Result<CacheLookup, CacheError>;

    /// Stores `value` in `slot` for `ttl`.
    async fn put(&self, slot: &CacheSlot, value: String, ttl: Duration) -> Result<(), CacheError>;

    /// Makes every entry of `user` unreachable, in O(1).
    async fn invalidate_user(&self, user: UserId) -> Result<(), CacheError>;

    /// Checks that the cache answers (for readiness probes).
    async fn ping(&self) -> Result<(), CacheError>;
}

/// A cache that holds nothing: every lookup misses and puts are dropped. For running with
/// caching switched off (benchmarks of the store path, debugging).
///
/// Misses still hand out slots, so concurrent identical reads share one store call (single
/// flight), and the slots carry a generation that every write of the user moves on, so a
/// read that arrives after a write never joins a read that began before it. Generations
/// live in a fixed array of counters indexed by a hash of the user: O(1), bounded memory;
/// two users sharing a counter only cost each other an extra store read.
#[derive(Debug)]
pub struct NoCache {
    generations: Box<[AtomicU64]>,
}

/// How many generation counters a [`NoCache`] keeps.
const NO_CACHE_BUCKETS: usize = 4096;

impl Default for NoCache {
    fn default() -> Self {
        Self {
            generations: (0..NO_CACHE_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl NoCache {
    fn counter(&self, user: UserId) -> &AtomicU64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        user.hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % NO_CACHE_BUCKETS as u64).unwrap_or(0);
        &self.generations[index]
    }
}

#[async_trait]
impl Cache for NoCache {
    async fn lookup(&self, key: &CacheKey) -> Result<CacheLookup, CacheError> {
        let generation = self.counter(key.user).load(Ordering::Acquire);
        Ok(CacheLookup::Miss(CacheSlot::new(format!(
            "{}:{generation}:{}",
            key.user,
            key.render()
        ))))
    }

    async fn put(
        &self,
        _slot: &CacheSlot,
        _value: String,
        _ttl: Duration,
    ) -> Result<(), CacheError> {
        Ok(())
    }

    async fn invalidate_user(&self, user: UserId) -> Result<(), CacheError> {
        self.counter(user).fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::PageRequest;

    #[tokio::test]
    async fn no_cache_moves_a_users_slots_on_each_write() {
        let cache = NoCache::default();
        let user = UserId::parse("65e25a6bfb249dcbfbf00b93").unwrap();
        let key = CacheKey::list(user, crate::ListQuery::page(PageRequest::default()));
        let slot = |l: CacheLookup| match l {
            CacheLookup::Miss(s) => s,
            CacheLookup::Hit(_) => panic!("NoCache never hits"),
        };
        let before = slot(cache.lookup(&key).await.unwrap());
        assert_eq!(
            slot(cache.lookup(&key).await.unwrap()),
            before,
            "readers share a slot"
        );
        cache.invalidate_user(user).await.unwrap();
        assert_ne!(
            slot(cache.lookup(&key).await.unwrap()),
            before,
            "a write moves it on"
        );
    }
}
