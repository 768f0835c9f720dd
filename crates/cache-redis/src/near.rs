//! The near cache: Redis's server-assisted client-side caching (client tracking).
//!
//! Lookups go over one connection on which `CLIENT TRACKING ON REDIRECT <feed>` is set.
//! Redis then remembers every key that connection read — the users' generation keys and
//! the entries under them — and publishes an invalidation on the feed (a connection of
//! our own, see the `feed` module) as soon as one of them changes (a write on any
//! instance moves the user's generation), expires or is evicted. What a tracked lookup
//! returned is kept here, in memory: the next lookup of the same key is answered without
//! a round trip, until the invalidation about it arrives.
//!
//! Rules that keep it honest:
//! - Before anything is served from memory, the feed is drained without blocking: every
//!   invalidation Redis has already sent is applied first, whether or not a task has been
//!   scheduled to read it.
//! - Nothing is served from memory unless both connections are up. When either drops
//!   (or a call on the lookup connection fails), everything held is forgotten at once,
//!   because invalidations may have been lost; new connections start empty.
//! - A lookup's answer is kept only if no invalidation of that user's keys (and no
//!   flush) was handled while the lookup was on the wire: an invalidation can overtake
//!   the answer, and must not be undone by it.
//! - This instance's own writes forget the user's generation before they return, so
//!   read-your-writes through one instance never waits for the feed.
//! - Entries live at most [`NEAR_TTL`] in memory, so even a lost invalidation (none is
//!   expected while the connections are up) is bounded in time; memory is bounded by
//!   bytes.
//!
//! Across instances: a writer does one more round trip (`PING`) after moving the
//! generation, so by the time its write returns Redis has written the invalidation to
//! every other instance's feed (Redis answers the `PING` in a later turn of its event
//! loop than the one that sent the invalidations). The next read on another instance,
//! which drains its feed first, then misses.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{self, PushInfo, PushKind};
use moka::sync::Cache as MokaCache;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::feed::{Drained, Feed, Invalidation};

/// The longest anything is kept in memory.
pub(crate) const NEAR_TTL: Duration = Duration::from_secs(30);

/// Generations remembered at most (one per user read recently).
const MAX_GENERATIONS: u64 = 1_000_000;

/// Invalidation epochs: one per shard of users.
const SHARDS: usize = 64;

/// How long after a failed connection the next attempt waits.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// A value and how long it may be kept.
#[derive(Clone)]
struct Held {
    value: Arc<str>,
    ttl: Duration,
}

/// Each value lives as long as Redis said it would, and at most [`NEAR_TTL`].
struct RedisTtl;

impl moka::Expiry<String, Held> for RedisTtl {
    fn expire_after_create(&self, _key: &String, held: &Held, _now: Instant) -> Option<Duration> {
        Some(held.ttl.min(NEAR_TTL))
    }
}

enum Link {
    /// A tracking connection and its feed, with their number (the end of an older
    /// connection must not take down a newer one) and the task following the feed.
    Up {
        conn: MultiplexedConnection,
        feed: Arc<Feed>,
        number: u64,
        follower: AbortHandle,
    },
    Connecting,
    Down {
        retry_at: Instant,
    },
}

/// What a lookup saw of the epochs when it went to Redis.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    flushes: u64,
    shard: usize,
    epoch: u64,
}

pub(crate) struct Near {
    client: redis::Client,
    timeout: Duration,
    link: Mutex<Link>,
    /// Generation key → the user's generation.
    generations: MokaCache<String, Arc<str>>,
    /// Entry key → the cached value, kept no longer than Redis keeps it.
    values: MokaCache<String, Held>,
    /// Invalidations handled, per shard of users.
    epochs: Vec<AtomicU64>,
    /// Flushes (connection lost, Redis flushed): every shard at once.
    flushes: AtomicU64,
    /// Tracking connections opened so far (their numbers).
    connections: AtomicU64,
    hasher: RandomState,
}

impl Near {
    /// A near cache holding up to `max_bytes` of entries; connects on first use.
    pub(crate) fn new(client: redis::Client, timeout: Duration, max_bytes: u64) -> Self {
        Self {
            client,
            timeout,
            link: Mutex::new(Link::Down {
                retry_at: Instant::now(),
            }),
            generations: MokaCache::builder()
                .max_capacity(MAX_GENERATIONS)
                .time_to_live(NEAR_TTL)
                .build(),
            values: MokaCache::builder()
                .max_capacity(max_bytes)
                .weigher(|k: &String, held: &Held| {
                    u32::try_from(k.len() + held.value.len()).unwrap_or(u32::MAX)
                })
                .expire_after(RedisTtl)
                .build(),
            epochs: (0..SHARDS).map(|_| AtomicU64::new(0)).collect(),
            flushes: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            hasher: RandomState::new(),
        }
    }

    fn link(&self) -> std::sync::MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tracking connection (and its number) when it is up; otherwise starts
    /// connecting (at most once a second) and answers `None`, so the caller uses the pool
    /// meanwhile.
    pub(crate) fn connection(self: &Arc<Self>) -> Option<(MultiplexedConnection, u64)> {
        let mut link = self.link();
        match &*link {
            Link::Up { conn, number, .. } => return Some((conn.clone(), *number)),
            Link::Connecting => return None,
            Link::Down { retry_at } if Instant::now() < *retry_at => return None,
            Link::Down { .. } => {}
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return None;
        };
        *link = Link::Connecting;
        drop(link);
        let near = Arc::clone(self);
        runtime.spawn(async move { near.connect().await });
        None
    }

    async fn connect(self: Arc<Self>) {
        let (pushes, received) = mpsc::unbounded_channel::<PushInfo>();
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_push_sender(pushes);
        let attempt = async {
            let feed = Feed::open(self.client.get_connection_info())
                .await
                .map_err(|e| e.to_string())?;
            let mut conn = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|e| e.to_string())?;
            redis::cmd("CLIENT")
                .arg("TRACKING")
                .arg("ON")
                .arg("REDIRECT")
                .arg(feed.client_id)
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((conn, feed))
        };
        match tokio::time::timeout(self.timeout.saturating_mul(4), attempt).await {
            Ok(Ok((conn, feed))) => {
                // Nothing from an earlier connection may be served on this one.
                self.flush();
                let number = self.connections.fetch_add(1, Ordering::SeqCst);
                let feed = Arc::new(feed);
                let follower =
                    tokio::spawn(Arc::clone(&self).follow_feed(Arc::clone(&feed), number));
                let mut link = self.link();
                *link = Link::Up {
                    conn,
                    feed,
                    number,
                    follower: follower.abort_handle(),
                };
                drop(link);
                tokio::spawn(Arc::clone(&self).follow(received, number));
                tracing::info!("Redis near cache on: client tracking is on");
            }
            Ok(Err(e)) => self.lost(None, &format!("cannot turn client tracking on: {e}")),
            Err(_) => self.lost(None, "no answer when turning client tracking on"),
        }
    }

    /// Watches the lookup connection `number` until it is gone.
    async fn follow(self: Arc<Self>, mut pushes: mpsc::UnboundedReceiver<PushInfo>, number: u64) {
        while let Some(push) = pushes.recv().await {
            match push.kind {
                PushKind::Disconnection => break,
                // The feed went away while the lookup connection stayed.
                PushKind::Other(kind) if kind == "tracking-redir-broken" => break,
                _ => {}
            }
        }
        self.lost(Some(number), "the tracking connection closed");
    }

    /// Applies what arrives on the feed of connection `number` between hits, until the
    /// feed closes (or the connection is replaced, which aborts this task).
    async fn follow_feed(self: Arc<Self>, feed: Arc<Feed>, number: u64) {
        loop {
            let drained = feed
                .drain_when_readable(|invalidation| self.apply(invalidation))
                .await;
            if let Drained::Closed(why) = drained {
                return self.lost(Some(number), &why);
            }
        }
    }

    fn apply(&self, invalidation: Invalidation) {
        match invalidation {
            Invalidation::All => self.flush(),
            Invalidation::Keys(keys) => {
                for key in keys {
                    self.invalidate_key(&String::from_utf8_lossy(&key));
                }
            }
        }
    }

    /// The feed of the current connection, drained: `false` when there is none (or it
    /// just closed), and nothing may be served from memory.
    fn caught_up(&self) -> bool {
        let (feed, number) = match &*self.link() {
            Link::Up { feed, number, .. } => (Arc::clone(feed), *number),
            _ => return false,
        };
        match feed.drain(|invalidation| self.apply(invalidation)) {
            Drained::Open => true,
            Drained::Closed(why) => {
                self.lost(Some(number), &why);
                false
            }
        }
    }

    fn invalidate_key(&self, key: &str) {
        self.bump(self.shard(key));
        self.generations.invalidate(key);
        self.values.invalidate(key);
    }

    fn bump(&self, shard: usize) {
        if let Some(epoch) = self.epochs.get(shard) {
            epoch.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Tracking connection `number` failed or closed (`None`: the attempt to open one
    /// failed): stop serving from memory, forget it all, and try again in a second. The
    /// end of a connection that is no longer the current one changes nothing.
    pub(crate) fn lost(&self, number: Option<u64>, why: &str) {
        let was_up = {
            let mut link = self.link();
            let current = match (&*link, number) {
                (Link::Up { number: up, .. }, Some(n)) => *up == n,
                (Link::Connecting, None) => true,
                _ => false,
            };
            if !current {
                return;
            }
            let was_up = match &*link {
                Link::Up { follower, .. } => {
                    // Dropping the feed's last holder closes its socket.
                    follower.abort();
                    true
                }
                _ => false,
            };
            *link = Link::Down {
                retry_at: Instant::now() + RECONNECT_AFTER,
            };
            was_up
        };
        self.flush();
        if was_up {
            tracing::warn!(reason = why, "Redis near cache off until tracking is back");
        }
    }

    fn flush(&self) {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        self.generations.invalidate_all();
        self.values.invalidate_all();
    }

    /// The shard of a key: that of its user's hash tag (`{u:…}`), so a generation key
    /// and the entries under it share one.
    fn shard(&self, key: &str) -> usize {
        let tag = key
            .find('{')
            .and_then(|open| key[open..].find('}').map(|close| &key[open..=open + close]))
            .unwrap_or(key);
        // The modulo keeps the index below SHARDS, the length of `epochs`.
        usize::try_from(self.hasher.hash_one(tag) % SHARDS as u64).unwrap_or(0)
    }

    /// Notes the epochs before a lookup of `generation_key` goes to Redis.
    pub(crate) fn ticket(&self, generation_key: &str) -> Ticket {
        self.epochs_of(self.shard(generation_key))
    }

    fn epochs_of(&self, shard: usize) -> Ticket {
        Ticket {
            flushes: self.flushes.load(Ordering::SeqCst),
            shard,
            epoch: self
                .epochs
                .get(shard)
                .map_or(0, |e| e.load(Ordering::SeqCst)),
        }
    }

    fn still_valid(&self, ticket: Ticket) -> bool {
        self.epochs_of(ticket.shard) == ticket
    }

    /// The value held for `generation_key` and the entry `prefix` + generation +
    /// `suffix`, when the tracking connection is up and both are in memory, after every
    /// invalidation already received is applied.
    pub(crate) fn get(&self, generation_key: &str, prefix: &str, suffix: &str) -> Option<String> {
        if !self.caught_up() {
            return None;
        }
        let generation = self.generations.get(generation_key)?;
        let value = self.values.get(&format!("{prefix}{generation}{suffix}"))?;
        Some(value.value.to_string())
    }

    /// Keeps what a tracked lookup returned, unless an invalidation of that user (or a
    /// flush) was handled since `ticket` was taken.
    pub(crate) fn keep(
        &self,
        ticket: Ticket,
        generation_key: String,
        generation: &str,
        entry: Option<(String, &str, Duration)>,
    ) {
        if !self.still_valid(ticket) {
            return;
        }
        self.generations
            .insert(generation_key.clone(), Arc::from(generation));
        if let Some((key, value, ttl)) = entry {
            let held = Held {
                value: Arc::from(value),
                ttl,
            };
            self.values.insert(key, held);
        }
        // An invalidation handled while inserting must win: entries are reachable only
        // through the generation, so forgetting it is enough.
        if !self.still_valid(ticket) {
            self.generations.invalidate(&generation_key);
        }
    }

    /// This instance wrote `generation_key`'s user: forget the generation now (the push
    /// will say the same a moment later).
    pub(crate) fn forget(&self, generation_key: &str) {
        self.bump(self.shard(generation_key));
        self.generations.invalidate(generation_key);
    }
}
