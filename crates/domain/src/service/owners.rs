//! Which user owns which transaction, remembered so that a read by id can go through the
//! owner's cache entries (they are invalidated, per user, by every write).
//!
//! A transaction's owner never changes through the service (a patch cannot move it), so a
//! remembered owner stays right for the transaction's whole life. The memory is bounded:
//! split into shards by id, and a full shard is emptied before it takes a new entry — a
//! forgotten owner only costs one uncached read, which remembers it again.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::id::{TransactionId, UserId};

const SHARDS: usize = 16;

/// Owners remembered at most (about 3 MB).
pub(super) const CAPACITY: usize = 65_536;

pub(super) struct Owners {
    shards: Vec<Mutex<HashMap<TransactionId, UserId>>>,
    hasher: RandomState,
}

impl Default for Owners {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl std::fmt::Debug for Owners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Owners { .. }")
    }
}

impl Owners {
    fn shard(&self, id: TransactionId) -> MutexGuard<'_, HashMap<TransactionId, UserId>> {
        // The modulo keeps the index below SHARDS, the length of `shards`.
        let index = usize::try_from(self.hasher.hash_one(id) % SHARDS as u64).unwrap_or(0);
        // Every entry is valid on its own, so a poisoned shard is still usable.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The owner of `id`, if remembered.
    pub(super) fn get(&self, id: TransactionId) -> Option<UserId> {
        self.shard(id).get(&id).copied()
    }

    /// Remembers that `user` owns `id`.
    pub(super) fn remember(&self, id: TransactionId, user: UserId) {
        let mut shard = self.shard(id);
        if shard.len() >= CAPACITY / SHARDS && !shard.contains_key(&id) {
            shard.clear();
        }
        shard.insert(id, user);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn remembers_the_latest_owner_and_stays_bounded() {
        let owners = Owners::default();
        let user = UserId::parse("65e25a6bfb249dcbfbf00b93").unwrap();
        let other = UserId::parse("65e25a6bfb249dcbfbf00b94").unwrap();
        let at = |ms: i64| Timestamp::from_millis(1_700_000_000_000 + ms).unwrap();
        let first = TransactionId::generate(at(0));
        owners.remember(first, user);
        assert_eq!(owners.get(first), Some(user));
        owners.remember(first, other);
        assert_eq!(owners.get(first), Some(other));
        for i in 0..(3 * CAPACITY) {
            owners.remember(TransactionId::generate(at(i64::try_from(i).unwrap())), user);
        }
        assert!(
            owners.len() <= CAPACITY,
            "{} owners remembered",
            owners.len()
        );
    }
}
