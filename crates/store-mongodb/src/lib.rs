//! # fido-store-mongodb — the production store
//!
//! Implements the domain's storage ports on MongoDB with the official driver, one module
//! per port: [`TransactionStore`](fido_domain::TransactionStore) in `transactions`,
//! [`StatisticsQuery`](fido_domain::StatisticsQuery) in `statistics`,
//! [`IdempotencyStore`](fido_domain::IdempotencyStore) in `idempotency`. Selected by
//! `DB_URI=mongodb://…` (or `mongodb+srv://…`); the database is the one the URI names
//! (default `fido`), the collection `fido_transactions`.
//!
//! - **One client per process**: [`MongoStore`] is cheap to clone and every clone shares
//!   the driver's connection pool.
//! - **Bounded**: server selection and connection timeouts come from [`MongoConfig`], and
//!   every operation is also wrapped in an overall timeout, so an unreachable database
//!   answers [`StoreError::Unavailable`] within seconds instead of hanging. The driver
//!   reconnects by itself when the database returns.
//! - **Documents** (see `docs/mongodb.md`): `_id` and `user_id` ObjectIds, `full_name` the
//!   Fernet token, `amount_cents` Int64 (exact integer cents), `transaction_type` in clear
//!   text, dates as BSON dates (milliseconds, like the domain's timestamps).
//! - **Index** `{user_id: 1, transaction_date: -1, _id: -1}` created idempotently at start;
//!   it serves the list query (count plus a sorted, skipped, limited find) and the
//!   statistics `$match`.
//! - **Statistics in the database**: one aggregation per request; sums are Decimal128
//!   (exact, and immune to the 64-bit overflow of an Int64 `$sum`).

mod documents;
mod errors;
mod events;
mod history;
mod idempotency;
mod legacy;
mod rollups;
mod slices;
mod statistics;
mod switches;
mod transactions;
mod transfer;

pub use events::{
    CURSORS_COLLECTION, EVENTS_COLLECTION, FAILURES_COLLECTION, LEASES_COLLECTION,
    OUTBOX_COLLECTION,
};
pub use history::HISTORY_COLLECTION;
pub use legacy::{legacy_filter, LegacyDocument, QUARANTINE_COLLECTION};
pub use rollups::{META_COLLECTION, ROLLUP_COLLECTION};

use std::future::IntoFuture;
use std::time::Duration;

use fido_domain::{StoreError, TransactionId, Written};
use mongodb::bson::{doc, Document};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};

use crate::documents::record_from;
use crate::errors::map_error;
use crate::transactions::id_filter;

/// The collection holding the transactions.
pub const COLLECTION: &str = "fido_transactions";
/// The database used when the URI names none.
pub const DEFAULT_DATABASE: &str = "fido";
/// The collection holding idempotency keys.
pub const IDEMPOTENCY_COLLECTION: &str = "fido_idempotency";
/// The name of the list/statistics index.
pub const INDEX_NAME: &str = "user_id_1_transaction_date_-1__id_-1";
/// The index of listings filtered by type.
pub const TYPE_INDEX_NAME: &str = "user_id_1_transaction_type_1_transaction_date_-1__id_-1";
/// The index of listings filtered by amount.
pub const AMOUNT_INDEX_NAME: &str = "user_id_1_amount_cents_1";

/// Connection settings.
#[derive(Clone)]
pub struct MongoConfig {
    /// `mongodb://…` or `mongodb+srv://…`; may hold credentials, so never logged.
    pub uri: String,
    /// How long to look for a suitable server before giving up (default 3 s).
    pub server_selection_timeout: Duration,
    /// How long a new connection may take to open (default 3 s).
    pub connect_timeout: Duration,
    /// The longest any single store call may take, end to end (default 5 s).
    pub operation_timeout: Duration,
    /// The driver's connection pool size per server (default 20).
    pub max_pool_size: u32,
    /// The database to use instead of the one the URI names.
    pub database: Option<String>,
    /// Whether each change also writes its event to the outbox (default on; needs a
    /// replica set, like the roll-ups).
    pub events: bool,
}

/// A setting of the MongoDB store that is out of range. Never quotes the URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The URI's scheme is not `mongodb://` or `mongodb+srv://`.
    #[error("DB_URI must start with mongodb:// or mongodb+srv://")]
    Scheme,
    /// A timeout of zero or over ten minutes.
    #[error("store.mongodb_*_timeout_ms must be between 1 and 600000")]
    Timeout,
    /// An empty connection pool.
    #[error("store.mongodb_max_pool_size must be at least 1")]
    PoolSize,
}

impl MongoConfig {
    /// Checks this adapter's rules, naming the first one broken.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let uri = self.uri.trim();
        if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
            return Err(ConfigError::Scheme);
        }
        let timeouts = [
            self.server_selection_timeout,
            self.connect_timeout,
            self.operation_timeout,
        ];
        if timeouts
            .iter()
            .any(|t| t.is_zero() || *t > Duration::from_secs(600))
        {
            return Err(ConfigError::Timeout);
        }
        if self.max_pool_size == 0 {
            return Err(ConfigError::PoolSize);
        }
        Ok(())
    }

    /// Defaults for a URI.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            server_selection_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(3),
            operation_timeout: Duration::from_secs(5),
            max_pool_size: 20,
            database: None,
            events: true,
        }
    }
}

impl std::fmt::Debug for MongoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoConfig")
            .field("uri", &"[redacted]")
            .field("server_selection_timeout", &self.server_selection_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("max_pool_size", &self.max_pool_size)
            .field("database", &self.database)
            .field("events", &self.events)
            .finish()
    }
}

/// The MongoDB store. Clones share one client.
#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    collection: Collection<Document>,
    idempotency: Collection<Document>,
    rollups: Collection<Document>,
    meta: Collection<Document>,
    events: Collection<Document>,
    outbox: Collection<Document>,
    cursors: Collection<Document>,
    failures: Collection<Document>,
    leases: Collection<Document>,
    /// One document per version of a transaction (see `history`).
    history: Collection<Document>,
    /// Documents `fido migrate` set aside (see `legacy`).
    quarantine: Collection<Document>,
    events_on: bool,
    /// Whether documents of the original service are left (shared by clones).
    legacy: std::sync::Arc<legacy::LegacyGuard>,
    /// Whether roll-ups are kept (shared by clones; see `rollups`).
    mode: std::sync::Arc<rollups::ModeCell>,
    /// Signalled after this process's commits that wrote an event.
    commits: std::sync::Arc<tokio::sync::Notify>,
    database: String,
    operation_timeout: Duration,
}

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore")
            .field("database", &self.database)
            .field("collection", &COLLECTION)
            .finish_non_exhaustive()
    }
}

impl MongoStore {
    /// Parses the URI and builds the client. No connection is made yet (the driver
    /// connects lazily), so this succeeds while the database is down; call
    /// [`MongoStore::ensure_indexes`] to create the index.
    pub async fn connect(config: MongoConfig) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(&config.uri).await.map_err(|e| {
            // The driver's message may quote the URI; say only what kind of problem it is.
            StoreError::Internal(format!(
                "DB_URI is not a usable MongoDB URI ({})",
                errors::kind_name(&e)
            ))
        })?;
        options.server_selection_timeout = Some(config.server_selection_timeout);
        options.connect_timeout = Some(config.connect_timeout);
        options.max_pool_size = Some(config.max_pool_size);
        options.app_name.get_or_insert_with(|| "fido".to_owned());
        let database = config
            .database
            .clone()
            .or_else(|| options.default_database.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let client = Client::with_options(options).map_err(map_error)?;
        let collection = client
            .database(&database)
            .collection::<Document>(COLLECTION);
        let idempotency = client
            .database(&database)
            .collection::<Document>(IDEMPOTENCY_COLLECTION);
        let rollups = client
            .database(&database)
            .collection::<Document>(ROLLUP_COLLECTION);
        let db = client.database(&database);
        let meta = db.collection::<Document>(META_COLLECTION);
        Ok(Self {
            client,
            collection,
            idempotency,
            rollups,
            meta,
            events: db.collection(EVENTS_COLLECTION),
            outbox: db.collection(OUTBOX_COLLECTION),
            cursors: db.collection(CURSORS_COLLECTION),
            failures: db.collection(FAILURES_COLLECTION),
            leases: db.collection(LEASES_COLLECTION),
            history: db.collection(HISTORY_COLLECTION),
            quarantine: db.collection(legacy::QUARANTINE_COLLECTION),
            events_on: config.events,
            legacy: std::sync::Arc::default(),
            mode: std::sync::Arc::default(),
            commits: std::sync::Arc::default(),
            database,
            operation_timeout: config.operation_timeout,
        })
    }

    /// Signalled after this process's commits that wrote an event, so a sequencer in this
    /// process numbers them at once instead of at its next poll (a sequencer elsewhere
    /// polls: see `docs/decisions/0020-sequencer.md`).
    pub fn commits(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.commits.clone()
    }

    /// The database in use.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Creates the list/statistics index if it is missing (idempotent).
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        let model = IndexModel::builder()
            .keys(doc! {"user_id": 1, "transaction_date": -1, "_id": -1})
            .options(IndexOptions::builder().name(INDEX_NAME.to_owned()).build())
            .build();
        self.bounded(self.collection.create_index(model)).await?;
        // Listing filters (docs/mongodb.md): by type, in the listing order (seek, no sort);
        // by amount range (the planner weighs it against the date index).
        let by_type = IndexModel::builder()
            .keys(doc! {"user_id": 1, "transaction_type": 1, "transaction_date": -1, "_id": -1})
            .options(
                IndexOptions::builder()
                    .name(TYPE_INDEX_NAME.to_owned())
                    .build(),
            )
            .build();
        let by_amount = IndexModel::builder()
            .keys(doc! {"user_id": 1, "amount_cents": 1})
            .options(
                IndexOptions::builder()
                    .name(AMOUNT_INDEX_NAME.to_owned())
                    .build(),
            )
            .build();
        self.bounded(self.collection.create_indexes([by_type, by_amount]))
            .await?;
        // Expired idempotency keys are deleted by the server (the service also ignores them).
        let ttl = IndexModel::builder()
            .keys(doc! {"expires_at": 1})
            .options(
                IndexOptions::builder()
                    .name("expires_at_ttl".to_owned())
                    .expire_after(Duration::ZERO)
                    .build(),
            )
            .build();
        self.bounded(self.idempotency.create_index(ttl)).await?;
        // The history's retention deletes by time.
        let history_by_time = IndexModel::builder()
            .keys(doc! {"at": 1})
            .options(IndexOptions::builder().name("at".to_owned()).build())
            .build();
        self.bounded(self.history.create_index(history_by_time))
            .await?;
        let by_day = IndexModel::builder()
            .keys(doc! {"u": 1, "d": 1})
            .options(
                IndexOptions::builder()
                    .name("u_1_d_1".to_owned())
                    .unique(true)
                    .build(),
            )
            .build();
        self.bounded(self.rollups.create_index(by_day)).await?;
        // The feed: an event enters it once (the sequencer's guard); the outbox: the
        // events of one transaction, found together by the sequencer.
        let event_id = IndexModel::builder()
            .keys(doc! {"id": 1})
            .options(
                IndexOptions::builder()
                    .name("id_1".to_owned())
                    .unique(true)
                    .build(),
            )
            .build();
        self.bounded(self.events.create_index(event_id)).await?;
        let by_transaction = IndexModel::builder()
            .keys(doc! {"t": 1})
            .options(IndexOptions::builder().name("t_1".to_owned()).build())
            .build();
        self.bounded(self.outbox.create_index(by_transaction))
            .await?;
        // Find out now whether roll-ups are kept (and start building them if needed).
        self.rollup_mode().await?;
        if self.legacy_documents_present().await? {
            tracing::warn!(
                "the database holds documents written by the original service: nothing is \
                 served until `fido migrate` has converted them (docs/migrating-from-fido.md)"
            );
        }
        let set_aside = self.quarantined_now();
        if set_aside > 0 {
            tracing::warn!(
                documents = set_aside,
                "documents set aside by `fido migrate` (it could not convert them) are not \
                 served: their users' reads answer 503 until they are fixed or removed and \
                 the migration run again (docs/migrating-from-fido.md); every other user is \
                 served"
            );
        }
        Ok(())
    }

    /// Runs [`MongoStore::ensure_indexes`] now, and if the database is unreachable keeps
    /// retrying in the background (with backoff) until it succeeds, so the service can
    /// start before its database.
    pub async fn ensure_indexes_eventually(&self) {
        match self.ensure_indexes().await {
            Ok(()) => tracing::info!(database = %self.database, "MongoDB index ready"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot create the MongoDB index yet; retrying in the background");
                let store = self.clone();
                tokio::spawn(async move {
                    let mut delay = Duration::from_secs(1);
                    loop {
                        tokio::time::sleep(delay).await;
                        match store.ensure_indexes().await {
                            Ok(()) => {
                                tracing::info!("MongoDB index ready");
                                break;
                            }
                            Err(e) => tracing::warn!(error = %e, "MongoDB index still pending"),
                        }
                        delay = (delay * 2).min(Duration::from_secs(30));
                    }
                });
            }
        }
    }

    /// Drops the whole database (for tests that made a throwaway one).
    pub async fn drop_database(&self) -> Result<(), StoreError> {
        self.bounded(self.client.database(&self.database).drop())
            .await
    }

    /// A conditional write that matched nothing: tells a missing record from a stale version.
    async fn outcome(
        &self,
        id: TransactionId,
        written: Option<Document>,
    ) -> Result<Written, StoreError> {
        if let Some(doc) = written {
            return record_from(&doc).map(Written::Done);
        }
        let exists = self
            .bounded(self.collection.count_documents(id_filter(id)))
            .await?
            > 0;
        Ok(if exists {
            Written::VersionMismatch
        } else {
            Written::NotFound
        })
    }

    /// The documents of `collection` matching `filter`, in `sort` order, at most `limit`
    /// (all when `None`), within the operation timeout.
    pub(crate) async fn find_sorted(
        &self,
        collection: &Collection<Document>,
        filter: Document,
        sort: Document,
        limit: Option<u32>,
    ) -> Result<Vec<Document>, StoreError> {
        self.bounded(async {
            let mut find = collection.find(filter).sort(sort);
            if let Some(limit) = limit {
                find = find.limit(i64::from(limit));
            }
            futures_util::TryStreamExt::try_collect(find.await?).await
        })
        .await
    }

    /// Awaits a driver call within the operation timeout, mapping its errors.
    async fn bounded<T>(
        &self,
        call: impl IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<T, StoreError> {
        self.bounded_raw(call).await?.map_err(map_error)
    }

    /// [`Self::bounded`] that hands the driver's error back as it is, for a caller that
    /// looks inside it (an unordered batch's duplicates).
    async fn bounded_raw<T>(
        &self,
        call: impl IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<mongodb::error::Result<T>, StoreError> {
        tokio::time::timeout(self.operation_timeout, call)
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "MongoDB did not answer within {:?}",
                    self.operation_timeout
                ))
            })
    }
}
