//! # fido-store-mongodb — the production store
//!
//! Implements the domain's [`TransactionStore`] and [`StatisticsQuery`] ports on MongoDB
//! with the official driver. Selected by `DB_URI=mongodb://…` (or `mongodb+srv://…`); the
//! database is the one the URI names (default `fido`), the collection `fido_transactions`.
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

use std::future::IntoFuture;
use std::time::Duration;

use async_trait::async_trait;
use fido_domain::{
    Claim, ClaimRequest, DateRange, EncryptedName, IdempotencyKey, IdempotencyStore, Page,
    PageRequest, RecordPatch, StatisticsQuery, StoreError, TransactionId, TransactionRecord,
    TransactionStore, TransactionTotals, UserId, UtcDay, Written,
};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, IndexModel};

use crate::documents::{bson_date, object_id, parse_decimal_cents, record_from, record_to};
use crate::errors::map_error;

/// The collection holding the transactions.
pub const COLLECTION: &str = "fido_transactions";
/// The database used when the URI names none.
pub const DEFAULT_DATABASE: &str = "fido";
/// The collection holding idempotency keys.
pub const IDEMPOTENCY_COLLECTION: &str = "fido_idempotency";
/// The name of the list/statistics index.
pub const INDEX_NAME: &str = "user_id_1_transaction_date_-1__id_-1";

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
}

impl MongoConfig {
    /// Defaults for a URI.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            server_selection_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(3),
            operation_timeout: Duration::from_secs(5),
            max_pool_size: 20,
            database: None,
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
            .finish()
    }
}

/// The MongoDB store. Clones share one client.
#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    collection: Collection<Document>,
    idempotency: Collection<Document>,
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
        Ok(Self {
            client,
            collection,
            idempotency,
            database,
            operation_timeout: config.operation_timeout,
        })
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

    /// Awaits a driver call within the operation timeout, mapping its errors.
    async fn bounded<T>(
        &self,
        call: impl IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.operation_timeout, call).await {
            Ok(result) => result.map_err(map_error),
            Err(_) => Err(StoreError::Unavailable(format!(
                "MongoDB did not answer within {:?}",
                self.operation_timeout
            ))),
        }
    }
}

fn id_filter(id: TransactionId) -> Document {
    doc! {"_id": object_id(id.object_id())}
}

/// The record, at `expected_version` when one is given.
fn conditional(id: TransactionId, expected_version: Option<u64>) -> Document {
    let mut filter = id_filter(id);
    if let Some(version) = expected_version {
        filter.insert("version", i64::try_from(version).unwrap_or(i64::MAX));
    }
    filter
}

fn read_optional(doc: Option<Document>) -> Result<Option<TransactionRecord>, StoreError> {
    doc.as_ref().map(record_from).transpose()
}

#[async_trait]
impl TransactionStore for MongoStore {
    async fn insert(&self, record: TransactionRecord) -> Result<(), StoreError> {
        self.bounded(self.collection.insert_one(record_to(&record)))
            .await?;
        Ok(())
    }

    async fn get(&self, id: TransactionId) -> Result<Option<TransactionRecord>, StoreError> {
        read_optional(
            self.bounded(self.collection.find_one(id_filter(id)))
                .await?,
        )
    }

    async fn update(&self, id: TransactionId, patch: RecordPatch) -> Result<Written, StoreError> {
        let mut set = doc! {"updated_at": bson_date(patch.updated_at)};
        if let Some(name) = patch.full_name {
            set.insert("full_name", name.into_string());
        }
        if let Some(amount) = patch.amount {
            set.insert("amount_cents", documents::cents(amount));
        }
        if let Some(kind) = patch.kind {
            set.insert("transaction_type", kind.as_str());
        }
        let filter = conditional(id, patch.expected_version);
        let update = doc! {"$set": set, "$inc": {"version": 1_i64}};
        let updated = self
            .bounded(
                self.collection
                    .find_one_and_update(filter, update)
                    .return_document(ReturnDocument::After),
            )
            .await?;
        self.outcome(id, updated).await
    }

    async fn delete(
        &self,
        id: TransactionId,
        expected_version: Option<u64>,
    ) -> Result<Written, StoreError> {
        let deleted = self
            .bounded(
                self.collection
                    .find_one_and_delete(conditional(id, expected_version)),
            )
            .await?;
        self.outcome(id, deleted).await
    }

    async fn list_by_user(
        &self,
        user: UserId,
        page: PageRequest,
    ) -> Result<Page<TransactionRecord>, StoreError> {
        let filter = doc! {"user_id": object_id(user.object_id())};
        let count = self.bounded(self.collection.count_documents(filter.clone()));
        let find = self.bounded(async {
            self.collection
                .find(filter.clone())
                .sort(doc! {"transaction_date": -1, "_id": -1})
                .skip(page.offset())
                .limit(i64::from(page.limit()))
                .await?
                .try_collect::<Vec<Document>>()
                .await
        });
        let (total, docs) = futures_util::future::try_join(count, find).await?;
        Ok(Page {
            total,
            page: page.page(),
            limit: page.limit(),
            data: docs.iter().map(record_from).collect::<Result<_, _>>()?,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.bounded(
            self.client
                .database(&self.database)
                .run_command(doc! {"ping": 1}),
        )
        .await
        .map(drop)
    }

    async fn names_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<(TransactionId, EncryptedName)>, StoreError> {
        let filter = match after {
            Some(id) => doc! {"_id": {"$gt": object_id(id.object_id())}},
            None => Document::new(),
        };
        let docs: Vec<Document> = self
            .bounded(async {
                self.collection
                    .find(filter)
                    .sort(doc! {"_id": 1})
                    .limit(i64::from(limit))
                    .projection(doc! {"full_name": 1})
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        docs.iter()
            .map(|d| {
                let corrupt = |field: &str| {
                    StoreError::Internal(format!("a stored transaction has an invalid {field}"))
                };
                let id = d.get_object_id("_id").map_err(|_| corrupt("_id"))?;
                let name = d.get_str("full_name").map_err(|_| corrupt("full_name"))?;
                Ok((
                    TransactionId::new(fido_domain::ObjectId::from_bytes(id.bytes())),
                    EncryptedName::new(name),
                ))
            })
            .collect()
    }

    async fn replace_name(
        &self,
        id: TransactionId,
        expected: EncryptedName,
        new: EncryptedName,
    ) -> Result<bool, StoreError> {
        let filter = doc! {"_id": object_id(id.object_id()), "full_name": expected.as_str()};
        let update = doc! {"$set": {"full_name": new.as_str()}};
        let result = self
            .bounded(self.collection.update_one(filter, update))
            .await?;
        Ok(result.modified_count == 1)
    }
}

#[async_trait]
impl StatisticsQuery for MongoStore {
    async fn totals(
        &self,
        user: UserId,
        range: DateRange,
    ) -> Result<TransactionTotals, StoreError> {
        // Each bound is its own clause of an `$and`. MongoDB plans this exactly like
        // `{transaction_date: {$gte, $lte}}` (same index bounds), and the pinned test server
        // (SecantusDB 0.7.0b3) answers it correctly, whereas with the descending index it
        // treats the combined form's `$lte` as exclusive.
        let mut clauses = vec![doc! {"user_id": object_id(user.object_id())}];
        if let Some(start) = range.start() {
            clauses.push(doc! {"transaction_date": {"$gte": bson_date(start)}});
        }
        if let Some(end) = range.end() {
            clauses.push(doc! {"transaction_date": {"$lte": bson_date(end)}});
        }
        let filter = doc! {"$and": clauses};
        let exact_sum_of = |kind: &str| {
            doc! {"$sum": {"$cond": [
                {"$eq": ["$transaction_type", kind]},
                {"$toDecimal": "$amount_cents"},
                {"$toDecimal": 0},
            ]}}
        };
        let pipeline = vec![
            doc! {"$match": filter},
            // Per UTC day: how many, and the exact per-type sums.
            doc! {"$group": {
                "_id": {"$dateToString": {"format": "%Y-%m-%d", "date": "$transaction_date"}},
                "n": {"$sum": 1},
                "credit": exact_sum_of("credit"),
                "debit": exact_sum_of("debit"),
            }},
            // Busiest first; among equals, the earliest day first.
            doc! {"$sort": {"n": -1, "_id": 1}},
            doc! {"$group": {
                "_id": Bson::Null,
                "count": {"$sum": "$n"},
                "credit": {"$sum": "$credit"},
                "debit": {"$sum": "$debit"},
                "busiest": {"$first": "$_id"},
            }},
        ];
        let rows: Vec<Document> = self
            .bounded(async {
                self.collection
                    .aggregate(pipeline)
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        let Some(row) = rows.first() else {
            return Ok(TransactionTotals::default());
        };
        let number = |field: &str| -> Result<i128, StoreError> {
            match row.get(field) {
                Some(Bson::Int32(n)) => Ok(i128::from(*n)),
                Some(Bson::Int64(n)) => Ok(i128::from(*n)),
                Some(Bson::Decimal128(d)) => parse_decimal_cents(&d.to_string()).ok_or_else(|| {
                    StoreError::Internal(format!("{field} is not a whole number of cents"))
                }),
                other => Err(StoreError::Internal(format!(
                    "unexpected {field} in statistics: {other:?}"
                ))),
            }
        };
        let busiest_day = match row.get_str("busiest") {
            Ok(day) => Some(
                UtcDay::parse(day)
                    .map_err(|e| StoreError::Internal(format!("busiest day: {e}")))?,
            ),
            Err(_) => None,
        };
        Ok(TransactionTotals {
            count: u64::try_from(number("count")?).unwrap_or(0),
            total_credit: fido_domain::MoneySum::from_cents(number("credit")?),
            total_debit: fido_domain::MoneySum::from_cents(number("debit")?),
            busiest_day,
        })
    }
}

fn key_id(scope: &str, key: &IdempotencyKey) -> Document {
    doc! {"s": scope, "k": key.as_str()}
}

#[async_trait]
impl IdempotencyStore for MongoStore {
    async fn claim(&self, r: ClaimRequest) -> Result<Claim, StoreError> {
        let id = key_id(&r.scope, &r.key);
        let fresh = doc! {
            "_id": id.clone(),
            "fingerprint": &r.fingerprint,
            "transaction_id": object_id(r.candidate_id.object_id()),
            "lease_until": bson_date(r.lease_until),
            "expires_at": bson_date(r.expires_at),
        };
        // A few rounds at most: each one either decides, or lost a race it can retry.
        for _ in 0..5 {
            match self
                .bounded(self.idempotency.insert_one(fresh.clone()))
                .await
            {
                Ok(_) => {
                    return Ok(Claim::Acquired {
                        transaction_id: r.candidate_id,
                    })
                }
                Err(StoreError::Duplicate) => {}
                Err(e) => return Err(e),
            }
            let Some(existing) = self
                .bounded(self.idempotency.find_one(doc! {"_id": id.clone()}))
                .await?
            else {
                continue; // it expired and was removed meanwhile: claim again
            };
            let date = |field: &str| {
                existing
                    .get_datetime(field)
                    .map(|d| d.timestamp_millis())
                    .unwrap_or(0)
            };
            let fingerprint = existing
                .get_str("fingerprint")
                .unwrap_or_default()
                .to_owned();
            if date("expires_at") <= r.now.as_millis() {
                // Expired but not yet swept by the TTL monitor: replace it if still so.
                let mut replacement = fresh.clone();
                replacement.remove("_id");
                let swapped = self
                    .bounded(self.idempotency.find_one_and_replace(
                        doc! {"_id": id.clone(), "expires_at": existing.get("expires_at").cloned().unwrap_or(Bson::Null)},
                        replacement,
                    ))
                    .await?;
                if swapped.is_some() {
                    return Ok(Claim::Acquired {
                        transaction_id: r.candidate_id,
                    });
                }
                continue;
            }
            if let Ok(snapshot) = existing.get_str("snapshot") {
                return Ok(Claim::Completed {
                    fingerprint,
                    snapshot: snapshot.to_owned(),
                });
            }
            if date("lease_until") > r.now.as_millis() {
                return Ok(Claim::InFlight { fingerprint });
            }
            // The previous holder's lease ran out: take over with its transaction id.
            let taken = self
                .bounded(self.idempotency.find_one_and_update(
                    doc! {"_id": id.clone(), "snapshot": Bson::Null, "lease_until": existing.get("lease_until").cloned().unwrap_or(Bson::Null)},
                    doc! {"$set": {"lease_until": bson_date(r.lease_until)}},
                ))
                .await?;
            if taken.is_some() {
                let tx = existing.get_object_id("transaction_id").map_err(|_| {
                    StoreError::Internal("an idempotency key has an invalid transaction_id".into())
                })?;
                return Ok(Claim::Acquired {
                    transaction_id: TransactionId::new(fido_domain::ObjectId::from_bytes(
                        tx.bytes(),
                    )),
                });
            }
        }
        Err(StoreError::Unavailable(
            "the idempotency key is changing too fast; retry".into(),
        ))
    }

    async fn complete(
        &self,
        scope: String,
        key: IdempotencyKey,
        snapshot: String,
    ) -> Result<(), StoreError> {
        self.bounded(self.idempotency.update_one(
            doc! {"_id": key_id(&scope, &key)},
            doc! {"$set": {"snapshot": snapshot}},
        ))
        .await
        .map(drop)
    }

    async fn release(&self, scope: String, key: IdempotencyKey) -> Result<(), StoreError> {
        self.bounded(
            self.idempotency
                .delete_one(doc! {"_id": key_id(&scope, &key), "snapshot": Bson::Null}),
        )
        .await
        .map(drop)
    }
}
