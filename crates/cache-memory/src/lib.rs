//! # fido-cache-memory — the in-process cache (single-node default)
//!
//! Implements the domain's [`Cache`] port on [`moka`], a concurrent cache with per-entry
//! expiry and a memory bound. It is what the service uses when no `REDIS_URL` is set: fast
//! (no network hop) and private to the process, so it suits one instance; several instances
//! must share Redis to keep read-your-writes across them.
//!
//! Invalidation is O(1) through per-user *generations*: every key holds its user's current
//! generation, and a write moves the user to a new one, leaving the old entries unreachable
//! until they expire or are evicted. Generations come from one process-wide counter that
//! only grows, so even a user whose generation entry was evicted gets a number never used
//! before — an old entry can never become reachable again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use fido_domain::{Cache, CacheError, CacheKey, CacheLookup, CacheSlot, UserId};
use moka::future::Cache as MokaCache;
use moka::Expiry;

/// Default memory bound for cached values: 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// How many users' generations are remembered; forgetting one only costs a miss.
const MAX_TRACKED_USERS: u64 = 1_000_000;

#[derive(Clone)]
struct Entry {
    value: Arc<str>,
    ttl: Duration,
}

/// Each entry lives for the TTL it was put with; a new put restarts the clock.
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Entry,
        _now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The in-process cache.
#[derive(Clone)]
pub struct InMemoryCache {
    entries: MokaCache<String, Entry>,
    generations: MokaCache<UserId, u64>,
    next_generation: Arc<AtomicU64>,
}

impl InMemoryCache {
    /// A cache holding at most about `max_bytes` of cached values.
    pub fn new(max_bytes: u64) -> Self {
        let entries = MokaCache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        let generations = MokaCache::builder().max_capacity(MAX_TRACKED_USERS).build();
        Self {
            entries,
            generations,
            next_generation: Arc::new(AtomicU64::new(1)),
        }
    }

    async fn generation(&self, user: UserId) -> u64 {
        let next = &self.next_generation;
        self.generations
            .get_with(user, async { next.fetch_add(1, Ordering::Relaxed) })
            .await
    }
}

impl Default for InMemoryCache {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BYTES)
    }
}

impl std::fmt::Debug for InMemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryCache")
            .field("entries", &self.entries.entry_count())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Cache for InMemoryCache {
    async fn lookup(&self, key: &CacheKey) -> Result<CacheLookup, CacheError> {
        let generation = self.generation(key.user).await;
        let full = format!("{}:{}:{}", key.user, generation, key.render());
        Ok(match self.entries.get(&full).await {
            Some(entry) => CacheLookup::Hit(entry.value.to_string()),
            None => CacheLookup::Miss(CacheSlot::new(full)),
        })
    }

    async fn put(&self, slot: &CacheSlot, value: String, ttl: Duration) -> Result<(), CacheError> {
        let entry = Entry {
            value: Arc::from(value),
            ttl,
        };
        self.entries.insert(slot.as_str().to_owned(), entry).await;
        Ok(())
    }

    async fn invalidate_user(&self, user: UserId) -> Result<(), CacheError> {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        self.generations.insert(user, generation).await;
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}
