//! The near cache (Redis client tracking): a hit is served from memory with no call to
//! Redis, a write through another instance is seen as soon as Redis's push arrives, and a
//! lost tracking connection forgets everything held.

use std::time::{Duration, Instant};

use deadpool_redis::redis;
use fido_cache_redis::{RedisCache, RedisConfig};
use fido_domain::{Cache, CacheKey, CacheLookup, DateRange};
use fido_testkit::fixtures::fresh_user;
use fido_testkit::servers::{Kind, TestServer};

const TTL: Duration = Duration::from_secs(60);

fn cache(url: &str, prefix: &str) -> RedisCache {
    let mut config = RedisConfig::new(url);
    config.key_prefix = prefix.to_owned();
    config.timeout = Duration::from_millis(500);
    RedisCache::new(config).expect("pool")
}

async fn admin(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

/// Lookups the server has run so far (the lookup script's calls).
async fn lookups_run(admin: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(admin)
        .await
        .expect("info");
    info.lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

async fn value(cache: &RedisCache, key: &CacheKey) -> Option<String> {
    match cache.lookup(key).await.expect("lookup") {
        CacheLookup::Hit(v) => Some(v),
        CacheLookup::Miss(_) => None,
    }
}

async fn fill(cache: &RedisCache, key: &CacheKey, v: &str) {
    match cache.lookup(key).await.expect("lookup") {
        CacheLookup::Miss(slot) => cache.put(&slot, v.into(), TTL).await.expect("put"),
        CacheLookup::Hit(found) => panic!("unexpected hit {found}"),
    }
}

/// Looks `key` up until the lookups stop reaching Redis (the tracking connection is up
/// and the entry is held), within a few seconds.
async fn until_held(
    cache: &RedisCache,
    key: &CacheKey,
    admin: &mut redis::aio::MultiplexedConnection,
) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(value(cache, key).await.is_some());
        let before = lookups_run(admin).await;
        assert!(value(cache, key).await.is_some());
        if lookups_run(admin).await == before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the near cache never held the entry"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_cost_no_call_and_another_instances_write_is_seen_at_once() {
    let Some(server) = TestServer::start(Kind::Redis) else {
        return;
    };
    let url = server.url();
    let mut admin = admin(&url).await;
    let (a, b) = (cache(&url, "near"), cache(&url, "near"));
    let key = CacheKey::statistics(fresh_user(), DateRange::ALL);
    fill(&b, &key, "before").await;
    until_held(&b, &key, &mut admin).await;

    let before = lookups_run(&mut admin).await;
    for _ in 0..200 {
        assert_eq!(value(&b, &key).await.as_deref(), Some("before"));
    }
    assert_eq!(
        lookups_run(&mut admin).await,
        before,
        "200 hits answered from memory, none by Redis"
    );

    // A write through the other instance moves the user's generation.
    a.invalidate_user(key.user).await.expect("invalidate");
    let written = Instant::now();
    let mut stale_for = Duration::ZERO;
    while value(&b, &key).await.is_some() {
        stale_for = written.elapsed();
        assert!(
            stale_for < Duration::from_millis(200),
            "b served the old value {stale_for:?} after a's write"
        );
        tokio::task::yield_now().await;
    }
    println!("b saw a's write after {stale_for:?}");

    // This instance's own write is seen before the write returns.
    fill(&b, &key, "again").await;
    until_held(&b, &key, &mut admin).await;
    b.invalidate_user(key.user).await.expect("invalidate");
    assert_eq!(value(&b, &key).await, None, "own write, read at once");
}

/// An instance on `server` whose near cache holds one entry, that entry's key, and an
/// admin connection.
async fn holding_one_entry(
    server: &TestServer,
) -> (RedisCache, CacheKey, redis::aio::MultiplexedConnection) {
    let url = server.url();
    let mut admin = admin(&url).await;
    let b = cache(&url, "near");
    let key = CacheKey::statistics(fresh_user(), DateRange::ALL);
    fill(&b, &key, "held").await;
    until_held(&b, &key, &mut admin).await;
    (b, key, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_tracking_connection_forgets_everything_held() {
    let Some(server) = TestServer::start(Kind::Redis) else {
        return;
    };
    let (b, key, mut admin) = holding_one_entry(&server).await;

    // Every connection but the admin's is cut: b cannot hear of what happens next.
    let _: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut admin)
        .await
        .expect("kill");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A write b's tracking connection was not there to be told about.
    let gen_key = format!("near:{{u:{}}}:gen", key.user);
    let _: () = redis::cmd("SET")
        .arg(&gen_key)
        .arg("99999999999999999")
        .query_async(&mut admin)
        .await
        .expect("set");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match b.lookup(&key).await {
            Ok(CacheLookup::Hit(v)) => panic!("served {v:?} after the connection was lost"),
            Ok(CacheLookup::Miss(_)) => break,
            Err(_) => {
                assert!(Instant::now() < deadline, "Redis did not answer again");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_comes_back_after_a_stall_and_stays() {
    let Some(server) = TestServer::start(Kind::Redis) else {
        return;
    };
    let (b, key, mut admin) = holding_one_entry(&server).await;

    // Redis stalls longer than the cache's timeout: the lookup on the tracking
    // connection fails, which drops that connection.
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(900)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .expect("pause");
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        let _ = b.lookup(&key).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A new tracking connection holds the entry again, and keeps holding it: the end of
    // the old connection must not take the new one down.
    if let Ok(CacheLookup::Miss(slot)) = b.lookup(&key).await {
        b.put(&slot, "again".into(), TTL).await.expect("put");
    }
    until_held(&b, &key, &mut admin).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let before = lookups_run(&mut admin).await;
    for _ in 0..100 {
        assert!(value(&b, &key).await.is_some());
    }
    assert_eq!(
        lookups_run(&mut admin).await,
        before,
        "still answered from memory 2.5 s later"
    );
}
