//! Builds the adapters that the settings select and hands them to the domain service.
//! This is the only place that knows which adapter implements which port.

use std::sync::Arc;

use fido_cache_memory::InMemoryCache;
use fido_cache_redis::RedisCache;
use fido_domain::{
    Cache, DailyRollups, EventLog, HistoryLog, IdempotencyStore, NoCache, Ports, ServiceConfig,
    StatisticsQuery, Store, StoreTransfer, SystemClock, TransactionService, TransactionStore,
    WriteSwitch,
};
use fido_http::cursor::CursorCodec;
use fido_http::JsonEncoder;
use fido_observability::{MeteredCache, MeteredStore};
use fido_store_mongodb::MongoStore;
use fido_store_sqlite::SqliteStore;

use crate::error::{Error, Result};
use crate::secrets;
use crate::settings::{Settings, StoreKind};

/// The store the settings select, as each of its storage ports (one adapter, one
/// connection pool).
#[derive(Clone)]
pub struct StorePorts {
    /// Transactions.
    pub store: Arc<dyn TransactionStore>,
    /// Statistics, computed in the same database.
    pub statistics: Arc<dyn StatisticsQuery>,
    /// Idempotency keys, in the same database.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// The daily roll-ups, in the same database.
    pub rollups: Arc<dyn DailyRollups>,
    /// The outbox of events, in the same database.
    pub events: Arc<dyn EventLog>,
    /// The transactions' history, in the same database.
    pub history: Arc<dyn HistoryLog>,
    /// The whole contents, for copies, exports and imports.
    pub transfer: Arc<dyn StoreTransfer>,
    /// The deployment-wide write pause, in the same database.
    pub switch: Arc<dyn WriteSwitch>,
    /// Signalled after this process's commits, where the store can: a relay in this
    /// process then numbers and delivers at once instead of at its next poll.
    pub commits: Option<Arc<tokio::sync::Notify>>,
}

impl std::fmt::Debug for StorePorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorePorts { .. }")
    }
}

/// The ports a request uses (timed when metered).
type RequestPorts = (
    Arc<dyn TransactionStore>,
    Arc<dyn StatisticsQuery>,
    Arc<dyn IdempotencyStore>,
    Arc<dyn HistoryLog>,
);

/// The adapter as its ports; with `metered`, the ports a request uses are timed
/// (`fido_store_call_duration_seconds`).
fn ports_of<S>(adapter: Arc<S>, metered: bool) -> StorePorts
where
    S: Store + 'static,
{
    let (store, statistics, idempotency, history): RequestPorts = if metered {
        let metered = Arc::new(MeteredStore::new(adapter.clone()));
        (metered.clone(), metered.clone(), metered.clone(), metered)
    } else {
        (
            adapter.clone(),
            adapter.clone(),
            adapter.clone(),
            adapter.clone(),
        )
    };
    StorePorts {
        store,
        statistics,
        idempotency,
        history,
        rollups: adapter.clone(),
        events: adapter.clone(),
        switch: adapter.clone(),
        transfer: adapter,
        commits: None,
    }
}

/// Opens the store `DB_URI` selects: the embedded SQLite file, or MongoDB (one client for
/// the whole process; the index is created now, or in the background once it is reachable).
pub async fn open_store(settings: &Settings) -> Result<StorePorts> {
    // Metered (and traced) when metrics or traces are on; bare otherwise.
    let metered = settings.metrics_enabled() || crate::telemetry::exporting();
    match settings.store_kind()? {
        StoreKind::Sqlite(_) => {
            let store = SqliteStore::open(settings.sqlite_config()?)
                .await
                .map_err(Error::Store)?;
            tracing::info!(path = %store.path().display(), "using the embedded store");
            let commits = store.commits();
            Ok(StorePorts {
                commits: Some(commits),
                ..ports_of(Arc::new(store), metered)
            })
        }
        StoreKind::MongoDb => {
            let store = MongoStore::connect(settings.mongo_config())
                .await
                .map_err(Error::Store)?;
            tracing::info!(database = %store.database(), "using MongoDB");
            store.ensure_indexes_eventually().await;
            let commits = store.commits();
            Ok(StorePorts {
                commits: Some(commits),
                ..ports_of(Arc::new(store), metered)
            })
        }
    }
}

/// The cache the settings select: none, Redis, or the in-process one.
pub fn open_cache(settings: &Settings) -> Result<Arc<dyn Cache>> {
    let cache = open_plain_cache(settings)?;
    Ok(
        if settings.metrics_enabled() || crate::telemetry::exporting() {
            Arc::new(MeteredCache::new(cache))
        } else {
            cache
        },
    )
}

fn open_plain_cache(settings: &Settings) -> Result<Arc<dyn Cache>> {
    if !settings.cache.enabled {
        tracing::warn!("caching is switched off: every read goes to the store");
        return Ok(Arc::new(NoCache::default()));
    }
    match settings.redis_config() {
        Some(config) => {
            let cache = RedisCache::new(config)?;
            tracing::info!(prefix = %settings.cache.redis_key_prefix, "using the Redis cache");
            Ok(Arc::new(cache))
        }
        None => {
            tracing::info!("using the in-process cache");
            Ok(Arc::new(InMemoryCache::new(
                settings.cache.memory_max_bytes,
            )))
        }
    }
}

/// Opens the store and cache, loads the keys, and returns the service. Cached reads are
/// encoded as the HTTP API's JSON, so a hit is sent as it is.
pub async fn build_service(settings: &Settings) -> Result<TransactionService> {
    let stores = open_store(settings).await?;
    service_over(settings, stores, secrets::cursor_codec(settings)?)
}

/// The service over already opened stores (so the relay can share their connections),
/// sealing list cursors with `cursors` (the codec the HTTP edge opens them with).
pub fn service_over(
    settings: &Settings,
    stores: StorePorts,
    cursors: CursorCodec,
) -> Result<TransactionService> {
    let cipher = Arc::new(secrets::cipher(settings)?);
    let ports = Ports {
        store: stores.store,
        statistics: stores.statistics,
        idempotency: stores.idempotency,
        rollups: stores.rollups,
        events: stores.events,
        history: stores.history,
        cache: open_cache(settings)?,
        cipher,
        clock: Arc::new(SystemClock),
        encoder: Arc::new(JsonEncoder::new(cursors)),
    };
    let config = ServiceConfig {
        cache: settings.cache_policy(),
        ..ServiceConfig::default()
    };
    Ok(TransactionService::new(ports, config))
}
