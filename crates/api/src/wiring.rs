//! Builds the adapters that the settings select and hands them to the domain service.
//! This is the only place that knows which adapter implements which port.

use std::sync::Arc;

use fido_cache_memory::InMemoryCache;
use fido_cache_redis::RedisCache;
use fido_domain::{
    Cache, IdempotencyStore, NoCache, Ports, ServiceConfig, StatisticsQuery, SystemClock,
    TransactionService, TransactionStore,
};
use fido_store_mongodb::MongoStore;
use fido_store_sqlite::{SqliteConfig, SqliteStore};

use crate::keys;
use crate::settings::{Settings, SettingsError, StoreKind};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is wrong or missing.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(String),
    /// The listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// host:port
        address: String,
        /// why
        source: std::io::Error,
    },
}

/// The store the settings select, as its three ports (one adapter, one connection pool).
#[derive(Clone)]
pub struct StorePorts {
    /// Transactions.
    pub store: Arc<dyn TransactionStore>,
    /// Statistics, computed in the same database.
    pub statistics: Arc<dyn StatisticsQuery>,
    /// Idempotency keys, in the same database.
    pub idempotency: Arc<dyn IdempotencyStore>,
}

impl std::fmt::Debug for StorePorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorePorts { .. }")
    }
}

fn ports_of<S>(adapter: Arc<S>) -> StorePorts
where
    S: TransactionStore + StatisticsQuery + IdempotencyStore + 'static,
{
    StorePorts {
        store: adapter.clone(),
        statistics: adapter.clone(),
        idempotency: adapter,
    }
}

/// Opens the store `DB_URI` selects: the embedded SQLite file, or MongoDB (one client for
/// the whole process; the index is created now, or in the background once it is reachable).
pub async fn open_store(settings: &Settings) -> Result<StorePorts, StartupError> {
    match settings.store_kind()? {
        StoreKind::Sqlite(path) => {
            let config = SqliteConfig {
                path,
                readers: settings.store.sqlite_readers,
                durability: settings.sqlite_durability()?,
            };
            let store = Arc::new(
                SqliteStore::open(config)
                    .await
                    .map_err(|e| StartupError::Store(e.to_string()))?,
            );
            tracing::info!(path = %store.path().display(), "using the embedded store");
            Ok(ports_of(store))
        }
        StoreKind::MongoDb => {
            let store = Arc::new(
                MongoStore::connect(settings.mongo_config())
                    .await
                    .map_err(|e| StartupError::Store(e.to_string()))?,
            );
            tracing::info!(database = %store.database(), "using MongoDB");
            store.ensure_indexes_eventually().await;
            Ok(ports_of(store))
        }
    }
}

/// Opens the store and cache, loads the keys, and returns the service.
pub async fn build_service(settings: &Settings) -> Result<TransactionService, StartupError> {
    let cipher = Arc::new(keys::cipher(settings)?);
    let stores = open_store(settings).await?;
    let cache: Arc<dyn Cache> = match settings.redis_config() {
        _ if !settings.cache.enabled => {
            tracing::warn!("caching is switched off: every read goes to the store");
            Arc::new(NoCache::default())
        }
        Some(config) => {
            let cache = RedisCache::new(config)
                .map_err(|e| StartupError::Settings(SettingsError(e.to_string())))?;
            tracing::info!(prefix = %settings.cache.redis_key_prefix, "using the Redis cache");
            Arc::new(cache)
        }
        None => {
            tracing::info!("using the in-process cache");
            Arc::new(InMemoryCache::new(settings.cache.memory_max_bytes))
        }
    };
    let ports = Ports {
        store: stores.store,
        statistics: stores.statistics,
        idempotency: stores.idempotency,
        cache,
        cipher,
        clock: Arc::new(SystemClock),
    };
    let config = ServiceConfig {
        cache: settings.cache_policy(),
        ..ServiceConfig::default()
    };
    Ok(TransactionService::new(ports, config))
}
