//! What only the Redis cache has to get right: generation keys that vanish, a server that
//! is down, and a server that stalls while a write needs to invalidate.

use std::time::{Duration, Instant};

use deadpool_redis::redis;
use fido_cache_redis::{RedisCache, RedisConfig};
use fido_domain::{Cache, CacheError, CacheKey, CacheLookup, DateRange, PageRequest};
use fido_testkit::fixtures::fresh_user;
use fido_testkit::servers::{Kind, TestServer};

const TTL: Duration = Duration::from_secs(60);

fn cache(url: String) -> RedisCache {
    let mut config = RedisConfig::new(url);
    config.key_prefix = format!("fido_test_{}", fresh_user());
    RedisCache::new(config).expect("pool")
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

async fn fill(cache: &RedisCache, key: &CacheKey, value: &str) {
    match cache.lookup(key).await.expect("lookup") {
        CacheLookup::Miss(slot) => cache.put(&slot, value.into(), TTL).await.expect("put"),
        CacheLookup::Hit(v) => panic!("unexpected hit {v}"),
    }
}

#[tokio::test]
async fn an_evicted_generation_never_revives_old_entries() {
    let Some(url) = fido_testkit::service_url("REDIS_URL") else {
        return;
    };
    let cache = cache(url.clone());
    let key = CacheKey::statistics(fresh_user(), DateRange::ALL);
    fill(&cache, &key, "before").await;
    cache.invalidate_user(key.user).await.expect("invalidate");
    fill(&cache, &key, "after").await;

    // Simulate eviction (or expiry) of the generation key under memory pressure.
    let mut conn = raw(&url).await;
    let gen_keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("*{}*gen", key.user))
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert_eq!(gen_keys.len(), 1);
    let _: () = redis::cmd("DEL")
        .arg(&gen_keys[0])
        .query_async(&mut conn)
        .await
        .expect("del");

    assert!(
        matches!(
            cache.lookup(&key).await.expect("lookup"),
            CacheLookup::Miss(_)
        ),
        "neither the old nor the older entry may be served"
    );
}

#[tokio::test]
async fn a_down_server_fails_fast_and_is_remembered_for_the_user() {
    // Nothing listens on this port.
    let port = fido_testkit::servers::free_port();
    let cache = cache(format!("redis://127.0.0.1:{port}"));
    let key = CacheKey::list(
        fresh_user(),
        fido_domain::ListQuery::page(PageRequest::default()),
    );
    let started = Instant::now();
    assert!(matches!(
        cache.lookup(&key).await,
        Err(CacheError::Unavailable(_))
    ));
    assert!(cache.invalidate_user(key.user).await.is_err());
    assert!(cache.ping().await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(cache.pending_invalidations(), 1);
}

#[tokio::test]
async fn a_write_during_a_stall_is_never_followed_by_a_stale_read() {
    let Some(server) = TestServer::start(Kind::Redis) else {
        return;
    };
    let cache = cache(server.url());
    let user = fresh_user();
    let key = CacheKey::list(
        user,
        fido_domain::ListQuery::page(PageRequest::new(2, 5).expect("page")),
    );
    fill(&cache, &key, "stale").await;

    // Redis stalls (keeping its data) while the write's invalidation is attempted.
    let mut admin = raw(&server.url()).await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(700)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .expect("pause");
    assert!(
        cache.invalidate_user(user).await.is_err(),
        "the stalled invalidation fails"
    );
    assert_eq!(cache.pending_invalidations(), 1);

    // After the stall, the old value must not come back.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match cache.lookup(&key).await {
            Ok(CacheLookup::Miss(_)) => break,
            Ok(CacheLookup::Hit(v)) => panic!("served {v:?} after a write"),
            Err(_) => {
                assert!(Instant::now() < deadline, "Redis did not come back");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(cache.pending_invalidations(), 0);
}

#[tokio::test]
async fn caching_resumes_by_itself_after_a_restart() {
    let Some(mut server) = TestServer::start(Kind::Redis) else {
        return;
    };
    let cache = cache(server.url());
    let key = CacheKey::list(
        fresh_user(),
        fido_domain::ListQuery::page(PageRequest::default()),
    );
    server.stop();
    assert!(cache.lookup(&key).await.is_err());
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.ping().await.is_err() {
        assert!(Instant::now() < deadline, "no recovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fill(&cache, &key, "v").await;
    assert!(matches!(
        cache.lookup(&key).await.expect("lookup"),
        CacheLookup::Hit(_)
    ));
}
