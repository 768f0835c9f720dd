//! The contract every [`Cache`] adapter must keep.

use std::time::Duration;

use fido_domain::{Cache, CacheKey, CacheLookup, CacheSlot, DateRange, ListQuery, PageRequest};

use crate::fixtures::{at, fresh_user};

const TTL: Duration = Duration::from_secs(60);

async fn miss_slot(cache: &dyn Cache, key: &CacheKey) -> CacheSlot {
    match cache.lookup(key).await.expect("lookup") {
        CacheLookup::Miss(slot) => slot,
        CacheLookup::Hit(v) => panic!("expected a miss for {key:?}, got a hit: {v}"),
    }
}

async fn hit(cache: &dyn Cache, key: &CacheKey) -> Option<String> {
    match cache.lookup(key).await.expect("lookup") {
        CacheLookup::Hit(v) => Some(v),
        CacheLookup::Miss(_) => None,
    }
}

fn page(p: u64, l: u64) -> ListQuery {
    ListQuery::page(PageRequest::new(p, l).expect("valid page"))
}

/// A miss hands out a slot; a value put there is a hit, byte for byte.
pub async fn miss_then_put_then_hit(cache: &dyn Cache) {
    let key = CacheKey::list(fresh_user(), page(1, 10));
    let slot = miss_slot(cache, &key).await;
    let value = r#"{"name":"Zoë — 李","n":[1,2,3]}"#.to_owned();
    cache.put(&slot, value.clone(), TTL).await.expect("put");
    assert_eq!(hit(cache, &key).await, Some(value));
}

/// Large values (a full page of 100 items is tens of kilobytes) round-trip intact.
pub async fn large_values_round_trip(cache: &dyn Cache) {
    let key = CacheKey::list(fresh_user(), page(1, 100));
    let slot = miss_slot(cache, &key).await;
    let value = "x".repeat(200_000);
    cache.put(&slot, value.clone(), TTL).await.expect("put");
    assert_eq!(hit(cache, &key).await.map(|v| v.len()), Some(value.len()));
}

/// Pages, limits, ranges and users never share an entry (`p1 l11` vs `p11 l1`).
pub async fn keys_are_distinct(cache: &dyn Cache) {
    let user = fresh_user();
    let other = fresh_user();
    let a = CacheKey::list(user, page(1, 11));
    let slot = miss_slot(cache, &a).await;
    cache.put(&slot, "a".into(), TTL).await.expect("put");
    let day = at("2026-11-25T00:00:00Z");
    let distinct = [
        CacheKey::list(user, page(11, 1)),
        CacheKey::list(user, page(1, 10)),
        CacheKey::list(other, page(1, 11)),
        CacheKey::statistics(user, DateRange::ALL),
        CacheKey::statistics(user, DateRange::new(Some(day), None).expect("range")),
        CacheKey::statistics(user, DateRange::new(None, Some(day)).expect("range")),
    ];
    for key in &distinct {
        assert_eq!(
            hit(cache, key).await,
            None,
            "{key:?} must not see entry {a:?}"
        );
    }
    assert_eq!(hit(cache, &a).await.as_deref(), Some("a"));
}

/// Invalidating a user hides every page, limit and range of that user, and nobody else's.
pub async fn invalidation_covers_every_entry_of_the_user(cache: &dyn Cache) {
    let user = fresh_user();
    let bystander = fresh_user();
    let day = at("2026-11-25T00:00:00Z");
    let keys = [
        CacheKey::list(user, page(1, 10)),
        CacheKey::list(user, page(7, 3)),
        CacheKey::statistics(user, DateRange::ALL),
        CacheKey::statistics(user, DateRange::new(Some(day), Some(day)).expect("range")),
    ];
    let kept = CacheKey::list(bystander, page(1, 10));
    for key in keys.iter().chain([&kept]) {
        let slot = miss_slot(cache, key).await;
        cache.put(&slot, "v".into(), TTL).await.expect("put");
        assert!(hit(cache, key).await.is_some());
    }
    cache.invalidate_user(user).await.expect("invalidate");
    for key in &keys {
        assert_eq!(hit(cache, key).await, None, "{key:?} survived invalidation");
    }
    assert!(
        hit(cache, &kept).await.is_some(),
        "another user's entry was invalidated"
    );
}

/// A slot handed out before an invalidation may be written late, but that value is never
/// served: a reader that raced a writer cannot cache stale data for later readers.
pub async fn late_put_into_an_old_slot_is_never_served(cache: &dyn Cache) {
    let key = CacheKey::statistics(fresh_user(), DateRange::ALL);
    let stale_slot = miss_slot(cache, &key).await;
    cache.invalidate_user(key.user).await.expect("invalidate");
    cache
        .put(&stale_slot, "stale".into(), TTL)
        .await
        .expect("put");
    assert_eq!(hit(cache, &key).await, None);
    let fresh = miss_slot(cache, &key).await;
    cache.put(&fresh, "fresh".into(), TTL).await.expect("put");
    assert_eq!(hit(cache, &key).await.as_deref(), Some("fresh"));
}

/// Entries expire after their TTL.
pub async fn entries_expire(cache: &dyn Cache) {
    let key = CacheKey::list(fresh_user(), page(2, 5));
    let slot = miss_slot(cache, &key).await;
    cache
        .put(&slot, "short".into(), Duration::from_millis(300))
        .await
        .expect("put");
    assert!(hit(cache, &key).await.is_some());
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(hit(cache, &key).await, None, "entry outlived its TTL");
}

/// Invalidating a user with nothing cached is fine, and so is a ping.
pub async fn invalidating_an_unknown_user_and_ping_succeed(cache: &dyn Cache) {
    cache
        .invalidate_user(fresh_user())
        .await
        .expect("invalidate");
    cache.ping().await.expect("ping");
}

/// Expands to one `#[tokio::test]` per cache contract check. `$make` is an expression
/// evaluating to a future of `Option<fixture>`: the fixture derefs to the adapter (a `Box`,
/// or a guard that also owns temporary resources); `None` skips the test (see
/// [`crate::service_url`]).
#[macro_export]
macro_rules! cache_contract_tests {
    ($make:expr) => {
        $crate::cache_contract_tests!(@tests $make;
            miss_then_put_then_hit,
            large_values_round_trip,
            keys_are_distinct,
            invalidation_covers_every_entry_of_the_user,
            late_put_into_an_old_slot_is_never_served,
            entries_expire,
            invalidating_an_unknown_user_and_ping_succeed,
        );
    };
    (@tests $make:expr; $($check:ident,)*) => {
        $(
            #[tokio::test]
            async fn $check() {
                let Some(cache) = $make.await else { return };
                $crate::cache::$check(&*cache).await;
            }
        )*
    };
}
