//! The Redis cache passes the shared cache contract suite against the server named by
//! `REDIS_URL` (`make test` starts one when none is running).

use fido_cache_redis::{RedisCache, RedisConfig};

async fn fresh() -> Option<Box<RedisCache>> {
    let url = fido_testkit::service_url("REDIS_URL")?;
    let mut config = RedisConfig::new(url);
    // A prefix of its own: parallel tests never see each other's keys.
    config.key_prefix = format!("fido_test_{}", fido_testkit::fixtures::fresh_user());
    config.timeout = std::time::Duration::from_millis(500);
    Some(Box::new(RedisCache::new(config).expect("pool")))
}

fido_testkit::cache_contract_tests!(fresh());
