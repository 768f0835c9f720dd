//! # fido-cache-redis — the shared cache of a multi-instance deployment
//!
//! Implements the domain's [`Cache`] port on Redis through one `deadpool-redis` pool per
//! process. Selected by `REDIS_URL=redis://…`.
//!
//! **Keys.** `<prefix>:{u:<user>}:<generation>:<entry>` for values and
//! `<prefix>:{u:<user>}:gen` for the user's generation. The `{…}` hash tag keeps a user's
//! keys in one Redis Cluster slot. Values are the service's JSON, with the TTL it asks
//! for.
//!
//! **O(1) invalidation.** A write sets the user's generation to a new, larger number; every
//! older entry becomes unreachable at once and expires on its own. No `KEYS` or `SCAN`.
//! Generations are taken from the Redis server's clock in microseconds and never move
//! backwards, so even a generation key that was evicted or expired comes back larger than
//! any generation used before: an old entry can never become reachable again.
//!
//! **One round trip per lookup.** A Lua script reads the generation (creating it if
//! missing) and the entry together, and returns both; the miss hands back a slot bound to
//! that generation (see the domain's `CacheSlot` on why that makes races harmless).
//!
//! **Degradation.** Every call is bounded by a short timeout (tens of milliseconds). A
//! failure is logged (at most one warning per 10 s, with a count of the ones suppressed),
//! returned as [`CacheError::Unavailable`] — which the service treats as a miss — and
//! opens a one-second circuit during which calls fail fast instead of waiting for the
//! timeout again. Afterwards the next call probes Redis; caching resumes by itself.
//!
//! **Near cache.** Lookups go over one connection with Redis's client tracking on, and
//! what they return is kept in this process's memory until Redis publishes, on a feed
//! connection of this process, that it changed (see the `near` module): a hit then costs
//! no round trip, only a non-blocking read of the feed. Bounded by
//! [`RedisConfig::near_max_bytes`]; 0 switches it off.
//!
//! **Read-your-writes through an outage.** If invalidating a user fails, the user is
//! remembered as *dirty*: this instance bypasses the cache for that user, and retries the
//! invalidation in the background (and on the user's next lookup) until it succeeds, so a
//! value cached before the write can never be served after Redis returns.

mod breaker;
mod feed;
mod near;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::{self, Script};
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};
use fido_domain::{Cache, CacheError, CacheKey, CacheLookup, CacheSlot, UserId};

use crate::breaker::{Breaker, LogLimiter};
use crate::near::Near;

/// Reads the user's generation (creating it from the server clock if missing) and the
/// entry under it. KEYS[1]: generation key. ARGV: entry prefix, entry suffix, generation
/// TTL in seconds. Returns `{generation, value or false, the value's remaining TTL in
/// milliseconds}` (the near cache keeps a value no longer than Redis does).
const LOOKUP: &str = r"
local gen = redis.call('GET', KEYS[1])
if not gen then
  local t = redis.call('TIME')
  gen = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('SET', KEYS[1], gen, 'EX', ARGV[3])
end
local key = ARGV[1] .. gen .. ARGV[2]
local value = redis.call('GET', key)
local ttl = -2
if value then ttl = redis.call('PTTL', key) end
return {gen, value, ttl}
";

/// Moves the user to a new generation: the server clock in microseconds, or one more than
/// the current generation if the clock is not ahead of it. KEYS[1]: generation key.
/// ARGV[1]: generation TTL in seconds.
const INVALIDATE: &str = r"
local t = redis.call('TIME')
local next = tonumber(t[1] .. string.format('%06d', tonumber(t[2])))
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if next <= current then next = current + 1 end
redis.call('SET', KEYS[1], string.format('%.0f', next), 'EX', ARGV[1])
return 1
";

/// Settings of the Redis cache.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://…` or `rediss://…`; may hold a password, so never logged.
    pub url: String,
    /// Connections in the pool (default 16).
    pub pool_size: usize,
    /// The longest any cache call may take, including getting a connection (default 50 ms).
    pub timeout: Duration,
    /// Prefix of every key (default `fido`), so several services can share one Redis.
    pub key_prefix: String,
    /// Lifetime of a user's generation key (default one day). Any value is safe: an
    /// expired generation is recreated larger than before.
    pub generation_ttl: Duration,
    /// Memory bound of the near cache, the values kept in this process and invalidated
    /// by Redis's client tracking (default 32 MiB); 0 switches it off.
    pub near_max_bytes: u64,
}

impl RedisConfig {
    /// Defaults for a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 16,
            timeout: Duration::from_millis(50),
            key_prefix: "fido".to_owned(),
            generation_ttl: Duration::from_secs(86_400),
            near_max_bytes: 32 * 1024 * 1024,
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &"[redacted]")
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.key_prefix)
            .field("near_max_bytes", &self.near_max_bytes)
            .finish_non_exhaustive()
    }
}

/// Why the cache could not be set up. Never quotes the URL (it may hold a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The URL's scheme is not `redis://` or `rediss://`.
    #[error("REDIS_URL must start with redis:// or rediss://")]
    Scheme,
    /// The URL cannot be parsed by the client.
    #[error("REDIS_URL is not a usable Redis URL")]
    Url,
    /// The pool size is out of range.
    #[error("cache.redis_pool_size must be between 1 and 1024")]
    PoolSize,
    /// The timeout is out of range.
    #[error("cache.redis_timeout_ms must be between 1 and 10000")]
    Timeout,
    /// The key prefix would make ambiguous or invalid keys.
    #[error("cache.redis_key_prefix must be printable ASCII without spaces or braces")]
    KeyPrefix,
}

impl RedisConfig {
    /// Checks the rules of this adapter's settings, naming the first one broken.
    pub fn validate(&self) -> Result<(), SetupError> {
        let url = self.url.trim();
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(SetupError::Scheme);
        }
        if !(1..=1024).contains(&self.pool_size) {
            return Err(SetupError::PoolSize);
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(10) {
            return Err(SetupError::Timeout);
        }
        // Braces would make Redis Cluster hash tags; spaces and control bytes make keys
        // that are hard to inspect.
        let prefix_ok = !self.key_prefix.is_empty()
            && self
                .key_prefix
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}');
        if !prefix_ok {
            return Err(SetupError::KeyPrefix);
        }
        Ok(())
    }
}

/// The Redis cache. Clones share the pool.
#[derive(Clone)]
pub struct RedisCache {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    timeout: Duration,
    prefix: String,
    generation_ttl_secs: u64,
    lookup: Script,
    invalidate: Script,
    breaker: Breaker,
    log: LogLimiter,
    dirty: Mutex<HashSet<UserId>>,
    /// The near cache, unless switched off.
    near: Option<Arc<Near>>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// Validates the settings and builds the pool. No connection is made yet, so this
    /// succeeds while Redis is down.
    pub fn new(config: RedisConfig) -> Result<Self, SetupError> {
        config.validate()?;
        let near = if config.near_max_bytes > 0 {
            Some(Arc::new(Near::new(
                tracking_client(&config.url)?,
                config.timeout,
                config.near_max_bytes,
            )))
        } else {
            None
        };
        let mut cfg = Config::from_url(config.url);
        cfg.pool = Some(PoolConfig {
            max_size: config.pool_size.max(1),
            timeouts: Timeouts {
                wait: Some(config.timeout),
                create: Some(config.timeout),
                recycle: Some(config.timeout),
            },
            ..PoolConfig::default()
        });
        // The library's message may quote the URL; say only that it is unusable.
        let pool = cfg
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|_| SetupError::Url)?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                timeout: config.timeout,
                prefix: config.key_prefix,
                generation_ttl_secs: config.generation_ttl.as_secs().max(1),
                lookup: Script::new(LOOKUP),
                invalidate: Script::new(INVALIDATE),
                breaker: Breaker::new(Duration::from_secs(1)),
                log: LogLimiter::new(Duration::from_secs(10)),
                dirty: Mutex::new(HashSet::new()),
                near,
            }),
        })
    }

    fn user_prefix(&self, user: UserId) -> String {
        format!("{}:{{u:{user}}}:", self.inner.prefix)
    }

    /// Runs one Redis call on a pooled connection under the breaker and the timeout.
    async fn call<T, F>(
        &self,
        what: &'static str,
        make: impl FnOnce(deadpool_redis::Connection) -> F,
    ) -> Result<T, CacheError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let pool = &self.inner.pool;
        self.guarded(what, async {
            let conn = pool.get().await.map_err(|e| e.to_string())?;
            make(conn).await.map_err(|e| e.to_string())
        })
        .await
    }

    /// Runs one Redis call under the breaker and the timeout, logging failures.
    async fn guarded<T>(
        &self,
        what: &'static str,
        call: impl std::future::Future<Output = Result<T, String>>,
    ) -> Result<T, CacheError> {
        let inner = &self.inner;
        if inner.breaker.is_open() {
            return Err(CacheError::Unavailable(
                "Redis is failing; retrying shortly".into(),
            ));
        }
        let error = match tokio::time::timeout(inner.timeout, call).await {
            Ok(Ok(value)) => {
                inner.breaker.close();
                return Ok(value);
            }
            Ok(Err(e)) => e,
            Err(_) => format!("no answer within {:?}", inner.timeout),
        };
        inner.breaker.trip();
        inner.log.warn(what, &error);
        Err(CacheError::Unavailable(format!(
            "Redis {what} failed: {error}"
        )))
    }

    /// The lookup script's call for one entry (see [`LOOKUP`]).
    fn lookup_call(
        &self,
        gen_key: &str,
        prefix: &str,
        suffix: &str,
    ) -> redis::ScriptInvocation<'_> {
        let mut call = self.inner.lookup.prepare_invoke();
        call.key(gen_key)
            .arg(prefix)
            .arg(suffix)
            .arg(self.inner.generation_ttl_secs);
        call
    }

    /// A lookup through the near cache: from memory when held, else over the tracking
    /// connection (kept for next time). `None` when the near cache is off or its
    /// connection is not up: the caller then looks up over the pool.
    async fn near_lookup(
        &self,
        gen_key: &str,
        prefix: &str,
        suffix: &str,
    ) -> Option<Result<(String, Option<String>, i64), CacheError>> {
        let near = self.inner.near.as_ref()?;
        if let Some(value) = near.get(gen_key, prefix, suffix) {
            return Some(Ok((String::new(), Some(value), 0)));
        }
        let (mut conn, number) = near.connection()?;
        let ticket = near.ticket(gen_key);
        let call = self.lookup_call(gen_key, prefix, suffix);
        let found: Result<(String, Option<String>, i64), CacheError> = self
            .guarded("lookup", async {
                call.invoke_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await;
        match &found {
            Ok((generation, value, ttl_ms)) => near.keep(
                ticket,
                gen_key.to_owned(),
                generation,
                value.as_deref().map(|v| {
                    // No expiry (-1) cannot happen for entries put through this cache.
                    let ttl = Duration::from_millis(u64::try_from(*ttl_ms).unwrap_or(0));
                    (format!("{prefix}{generation}{suffix}"), v, ttl)
                }),
            ),
            Err(_) => near.lost(Some(number), "a lookup on the tracking connection failed"),
        }
        Some(found)
    }

    async fn bump(&self, user: UserId) -> Result<(), CacheError> {
        let key = format!("{}gen", self.user_prefix(user));
        let ttl = self.inner.generation_ttl_secs;
        let script = &self.inner.invalidate;
        self.call("invalidate", |mut conn| async move {
            script
                .key(key)
                .arg(ttl)
                .invoke_async::<i64>(&mut conn)
                .await
                .map(drop)
        })
        .await
    }

    /// Waits until Redis has sent the invalidations of a write just made: Redis answers a
    /// command sent after the write's answer in a later turn of its event loop than the
    /// one that published them to every other instance's feed, so once it answers they
    /// have been written out, and a read that reaches another instance after this write
    /// returns is not served the old value. Sent on the near cache's own (multiplexed)
    /// connection when it is up, so the write does not hold a pooled one for a second
    /// round trip; over the pool otherwise. Costs a write one more round trip: measured
    /// at about 15 % of creates per second on the embedded store with Redis on two cores
    /// (decision 0022).
    async fn flush_invalidations(&self) -> Result<(), CacheError> {
        if let Some((mut conn, number)) = self.inner.near.as_ref().and_then(|n| n.connection()) {
            let sent = self
                .guarded("invalidate", async {
                    redis::cmd("PING")
                        .query_async::<()>(&mut conn)
                        .await
                        .map_err(|e| e.to_string())
                })
                .await;
            if sent.is_ok() {
                return sent;
            }
            if let Some(near) = &self.inner.near {
                near.lost(Some(number), "a call on the tracking connection failed");
            }
        }
        self.call("invalidate", |mut conn| async move {
            redis::cmd("PING").query_async::<()>(&mut conn).await
        })
        .await
    }

    fn dirty(&self) -> std::sync::MutexGuard<'_, HashSet<UserId>> {
        self.inner
            .dirty
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers a user whose invalidation failed, and makes sure someone retries it.
    fn mark_dirty(&self, user: UserId) {
        let first = {
            let mut dirty = self.dirty();
            let was_empty = dirty.is_empty();
            dirty.insert(user);
            was_empty
        };
        if first {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let cache = self.clone();
                handle.spawn(async move { cache.retry_dirty().await });
            }
        }
    }

    /// Retries pending invalidations until none is left.
    async fn retry_dirty(&self) {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let pending: Vec<UserId> = self.dirty().iter().copied().collect();
            if pending.is_empty() {
                return;
            }
            for user in pending {
                if self.bump(user).await.is_ok() {
                    self.dirty().remove(&user);
                } else {
                    break;
                }
            }
        }
    }

    /// How many users wait for an invalidation to reach Redis (for tests and metrics).
    pub fn pending_invalidations(&self) -> usize {
        self.dirty().len()
    }
}

/// The client of the tracking connection: the same server and credentials, speaking RESP3
/// (so the library tells it when the connection closes, and Redis when the feed it
/// redirects to is gone).
fn tracking_client(url: &str) -> Result<redis::Client, SetupError> {
    use redis::IntoConnectionInfo;
    // The library's message may quote the URL; say only that it is unusable.
    let info = url
        .trim()
        .into_connection_info()
        .map_err(|_| SetupError::Url)?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    redis::Client::open(info.set_redis_settings(settings)).map_err(|_| SetupError::Url)
}

#[async_trait]
impl Cache for RedisCache {
    async fn lookup(&self, key: &CacheKey) -> Result<CacheLookup, CacheError> {
        if self.dirty().contains(&key.user) {
            // A write of this user has not reached Redis yet: try now, and until it does,
            // answer from the store.
            self.bump(key.user).await?;
            self.dirty().remove(&key.user);
        }
        let prefix = self.user_prefix(key.user);
        let gen_key = format!("{prefix}gen");
        let suffix = format!(":{}", key.render());
        let (generation, value, _ttl) = match self.near_lookup(&gen_key, &prefix, &suffix).await {
            Some(found) => found?,
            None => {
                let call = self.lookup_call(&gen_key, &prefix, &suffix);
                self.call("lookup", |mut conn| async move {
                    call.invoke_async(&mut conn).await
                })
                .await?
            }
        };
        Ok(match value {
            Some(v) => CacheLookup::Hit(v),
            None => CacheLookup::Miss(CacheSlot::new(format!("{prefix}{generation}{suffix}"))),
        })
    }

    async fn put(&self, slot: &CacheSlot, value: String, ttl: Duration) -> Result<(), CacheError> {
        let key = slot.as_str().to_owned();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.call("put", |mut conn| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ms)
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    async fn invalidate_user(&self, user: UserId) -> Result<(), CacheError> {
        let mut result = self.bump(user).await;
        // Only where near caches are on (the setting is the deployment's: every instance
        // has the same): without them nothing is held that the invalidation must reach.
        if result.is_ok() && self.inner.near.is_some() {
            result = self.flush_invalidations().await;
        }
        if let Some(near) = &self.inner.near {
            // After the bump: a lookup racing with it either read the new generation or
            // is refused by the epoch this moves.
            near.forget(&format!("{}gen", self.user_prefix(user)));
        }
        if result.is_err() {
            self.mark_dirty(user);
        }
        result
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.call("ping", |mut conn| async move {
            redis::cmd("PING").query_async::<()>(&mut conn).await
        })
        .await
    }
}
