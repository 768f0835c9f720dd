//! The near cache (Redis client tracking): a hit is served from memory with no call to
//! Redis, a write through another instance is seen by the next read after it returns,
//! and a lost tracking connection or feed forgets everything held.

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

/// Runs `a`'s write on a runtime of its own while this thread blocks, so `b`'s runtime
/// (single-threaded) runs none of its tasks between the write and `b`'s next read: only
/// what `b` does inside the read itself can tell it of the write.
fn write_elsewhere(other: &tokio::runtime::Runtime, a: &RedisCache, user: fido_domain::UserId) {
    std::thread::scope(|scope| {
        scope
            .spawn(|| other.block_on(a.invalidate_user(user)))
            .join()
            .expect("writer thread")
            .expect("invalidate");
    });
}

#[tokio::test(flavor = "current_thread")]
async fn hits_cost_no_call_and_another_instances_write_is_seen_by_the_next_read() {
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

    // A write through the other instance moves the user's generation; b's very next
    // read must not be served the old value, however its tasks are scheduled. Repeated,
    // on a fresh entry each time.
    let other = tokio::runtime::Runtime::new().expect("runtime");
    for round in 0..50 {
        write_elsewhere(&other, &a, key.user);
        assert_eq!(
            value(&b, &key).await,
            None,
            "round {round}: stale after a's write"
        );
        fill(&b, &key, "before").await;
        until_held(&b, &key, &mut admin).await;
    }

    other.shutdown_background();

    // This instance's own write is seen before the write returns (the last round left
    // the entry held).
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

/// Cuts b's connections of `kind` (`normal`: the lookup connection and the pool;
/// `pubsub`: the feed), moves the user's generation behind b's back, and checks that b
/// never serves what it held.
async fn forgets_everything_when_cut(kind: &str) {
    let Some(server) = TestServer::start(Kind::Redis) else {
        return;
    };
    let (b, key, mut admin) = holding_one_entry(&server).await;
    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg(kind)
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut admin)
        .await
        .expect("kill");
    assert!(killed >= 1, "b had a {kind} connection");
    // A write b may not be told about.
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
            Ok(CacheLookup::Hit(v)) => panic!("served {v:?} after its {kind} connection was cut"),
            Ok(CacheLookup::Miss(_)) => break,
            Err(_) => {
                assert!(Instant::now() < deadline, "Redis did not answer again");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_tracking_connection_forgets_everything_held() {
    forgets_everything_when_cut("normal").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_feed_forgets_everything_held() {
    forgets_everything_when_cut("pubsub").await;
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
