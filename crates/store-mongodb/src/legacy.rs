//! Documents written by the original Python service, and their conversion in place.
//!
//! The original writes `fido_transactions` documents with `transaction_amount` a double
//! (any number of decimals), `transaction_type` a Fernet token of `credit`/`debit`,
//! `transaction_date` a BSON date — or, after its PATCH, a naive ISO string — no
//! `created_at`/`updated_at`/`version`, and after a PATCH a stray string `id`. This module
//! finds such documents ([`LEGACY_FILTER`]), hands them out in `_id` order for `fido
//! migrate` to convert, and replaces each one only if it is still exactly as it was read
//! (compare-and-set on the whole document), so a migration can run on a live database, be
//! interrupted anywhere, and run again.
//!
//! Until no such document is left, the store answers
//! [`StoreError::MigrationRequired`] instead of reading them wrongly (see `docs/migrating-from-fido.md`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fido_domain::{ObjectId, StoreError, TransactionId, TransactionRecord, UserId};
use mongodb::bson::{doc, Bson, Document};

use crate::documents::{object_id, record_to};
use crate::MongoStore;

/// Which documents are not (yet) in this service's layout.
pub fn legacy_filter() -> Document {
    doc! {"$or": [
        {"amount_cents": {"$exists": false}},
        {"version": {"$exists": false}},
        {"created_at": {"$exists": false}},
        {"updated_at": {"$exists": false}},
        {"transaction_date": {"$not": {"$type": "date"}}},
        {"id": {"$exists": true}},
    ]}
}

/// What a legacy document's fields hold, as found (nothing converted yet).
#[derive(Debug, Clone)]
pub struct LegacyDocument {
    /// Its `_id`.
    pub id: TransactionId,
    /// The document exactly as read (the compare-and-set of the conversion).
    pub original: Document,
}

impl LegacyDocument {
    /// A field as found.
    pub fn get(&self, field: &str) -> Option<&Bson> {
        self.original.get(field)
    }

    /// The owner, if `user_id` is an ObjectId.
    pub fn user_id(&self) -> Option<UserId> {
        self.original
            .get_object_id("user_id")
            .ok()
            .map(|o| UserId::new(ObjectId::from_bytes(o.bytes())))
    }

    /// The seconds of the `_id` (an ObjectId's creation time), in milliseconds.
    pub fn id_time_millis(&self) -> i64 {
        i64::from(u32::from_be_bytes(
            self.id.object_id().bytes()[..4]
                .try_into()
                .unwrap_or([0; 4]),
        )) * 1000
    }
}

/// Whether the database still holds legacy documents: checked when the store starts and
/// then again at most every 10 s while it does, so a migration run by another process is
/// noticed without a restart.
#[derive(Debug, Default)]
pub(crate) struct LegacyGuard {
    present: AtomicBool,
    checked: Mutex<Option<Instant>>,
}

const RECHECK: Duration = Duration::from_secs(10);

impl MongoStore {
    /// Whether any document is in the original service's layout.
    pub async fn legacy_documents_present(&self) -> Result<bool, StoreError> {
        let found = self
            .bounded(
                self.collection
                    .find_one(legacy_filter())
                    .projection(doc! {"_id": 1}),
            )
            .await?
            .is_some();
        self.legacy.present.store(found, Ordering::Release);
        *self
            .legacy
            .checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        Ok(found)
    }

    /// `Err(MigrationRequired)` while legacy documents are present (re-checked at most
    /// every 10 s); free when they are not.
    pub(crate) async fn require_migrated(&self) -> Result<(), StoreError> {
        if !self.legacy.present.load(Ordering::Acquire) {
            return Ok(());
        }
        let stale = self
            .legacy
            .checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none_or(|at| at.elapsed() >= RECHECK);
        if stale && !self.legacy_documents_present().await? {
            tracing::info!("no document in the original layout is left: serving");
            return Ok(());
        }
        Err(StoreError::MigrationRequired(
            "the database holds documents written by the original service; run `fido migrate`"
                .into(),
        ))
    }

    /// Up to `limit` legacy documents after `after`, in `_id` order.
    pub async fn legacy_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<LegacyDocument>, StoreError> {
        let mut filter = legacy_filter();
        if let Some(id) = after {
            filter = doc! {"$and": [filter, {"_id": {"$gt": object_id(id.object_id())}}]};
        }
        let docs: Vec<Document> = self
            .find_sorted(&self.collection, filter, doc! {"_id": 1}, Some(limit))
            .await?;
        docs.into_iter()
            .map(|original| {
                let id = original.get_object_id("_id").map_err(|_| {
                    StoreError::Internal("a document's _id is not an ObjectId".into())
                })?;
                Ok(LegacyDocument {
                    id: TransactionId::new(ObjectId::from_bytes(id.bytes())),
                    original,
                })
            })
            .collect()
    }

    /// How many legacy documents are left (for progress).
    pub async fn legacy_count(&self) -> Result<u64, StoreError> {
        self.bounded(self.collection.count_documents(legacy_filter()))
            .await
    }

    /// Replaces `found` by `record` (plus `legacy`, the original values a conversion
    /// adjusted) only if the document is still exactly `found`: `true` when replaced.
    pub async fn convert_legacy(
        &self,
        found: &LegacyDocument,
        record: &TransactionRecord,
        legacy: Option<Document>,
    ) -> Result<bool, StoreError> {
        let mut replacement = record_to(record);
        if let Some(legacy) = legacy {
            replacement.insert("legacy", legacy);
        }
        let result = self
            .bounded(
                self.collection
                    .replace_one(found.original.clone(), replacement),
            )
            .await?;
        Ok(result.matched_count == 1)
    }
}
