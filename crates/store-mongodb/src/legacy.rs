//! Documents written by the original Python service, and their conversion in place.
//!
//! The original writes `fido_transactions` documents with `transaction_amount` a double
//! (any number of decimals), `transaction_type` a Fernet token of `credit`/`debit`,
//! `transaction_date` a BSON date — or, after its PATCH, a naive ISO string — no
//! `created_at`/`updated_at`/`version`, and after a PATCH a stray string `id`. This module
//! finds such documents ([`LEGACY_FILTER`]), hands them out in `_id` order for `fido
//! migrate` to convert, and replaces each one only if it is still exactly as it was read
//! (compare-and-set on the whole document), so a migration can run on a live database, be
//! interrupted anywhere, and run again. A batch is converted at once
//! ([`MongoStore::convert_legacy_batch`]): on a replica set, one transaction that reads the
//! batch again, removes the unchanged documents and inserts their conversions.
//!
//! Until no such document is left, the store answers
//! [`StoreError::MigrationRequired`] instead of reading them wrongly (see `docs/migrating-from-fido.md`).
//!
//! **Set aside.** A document `fido migrate` cannot convert is recorded in
//! `fido_quarantine` (`{_id, reason, at}`; the document itself stays untouched). Such
//! documents no longer stop the whole service: every user without one is served; a read
//! that would include one (its user's list, statistics, series and export, and the
//! document by id) answers [`StoreError::Quarantined`] with the count. A recorded document
//! that is no longer in the original layout (fixed and converted, or fixed by hand) or no
//! longer exists counts for nothing. The set is re-read with the legacy check, so a fix is
//! served within [`RECHECK`] without a restart.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use fido_domain::{
    Actor, HistoryEntry, ObjectId, StoreError, TransactionId, TransactionRecord, UserId,
};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::documents::{object_id, record_to};
use crate::MongoStore;

/// What makes a document not (yet) in this service's layout: any one of these.
fn legacy_conditions() -> Vec<Bson> {
    vec![
        Bson::Document(doc! {"amount_cents": {"$exists": false}}),
        Bson::Document(doc! {"version": {"$exists": false}}),
        Bson::Document(doc! {"created_at": {"$exists": false}}),
        Bson::Document(doc! {"updated_at": {"$exists": false}}),
        Bson::Document(doc! {"transaction_date": {"$not": {"$type": "date"}}}),
        Bson::Document(doc! {"id": {"$exists": true}}),
    ]
}

/// Which documents are not (yet) in this service's layout.
pub fn legacy_filter() -> Document {
    doc! {"$or": legacy_conditions()}
}

/// Which documents are in this service's layout: what sums and roll-ups may read (a
/// document set aside by the migration never enters them).
pub(crate) fn converted_filter() -> Document {
    doc! {"$nor": legacy_conditions()}
}

/// A converted document: `record` in this service's layout, plus `legacy` (the original
/// values the conversion adjusted), if any.
fn conversion(record: &TransactionRecord, legacy: Option<&Document>) -> Document {
    let mut converted = record_to(record);
    if let Some(legacy) = legacy {
        converted.insert("legacy", legacy.clone());
    }
    converted
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

/// The collection of documents set aside by `fido migrate`.
pub const QUARANTINE_COLLECTION: &str = "fido_quarantine";

/// Documents set aside at most (a migration that cannot convert more is not one to serve
/// from: every legacy document beyond this many stops the service as before).
const MAX_QUARANTINE: i64 = 100_000;

/// Whether the database still holds legacy documents, and which were set aside: checked
/// when the store starts and then again at most every 10 s while there are any, so a
/// migration run by another process is noticed without a restart.
#[derive(Debug, Default)]
pub(crate) struct LegacyGuard {
    /// Legacy documents that were not set aside are present: nothing is served.
    present: AtomicBool,
    checked: Mutex<Option<Instant>>,
    quarantine: RwLock<Quarantine>,
}

/// The documents set aside, by id and by user.
#[derive(Debug, Default)]
struct Quarantine {
    ids: HashSet<TransactionId>,
    users: HashMap<UserId, u64>,
}

/// How often the legacy check runs again while it finds something.
pub(crate) const RECHECK: Duration = Duration::from_secs(10);

impl MongoStore {
    /// Whether any document is in the original service's layout and was not set aside
    /// (re-reading the set aside ones as well).
    pub async fn legacy_documents_present(&self) -> Result<bool, StoreError> {
        let recorded: Vec<Bson> = self
            .bounded(async {
                self.quarantine
                    .find(doc! {})
                    .projection(doc! {"_id": 1})
                    .limit(MAX_QUARANTINE)
                    .await?
                    .try_collect::<Vec<Document>>()
                    .await
            })
            .await?
            .into_iter()
            .filter_map(|d| d.get("_id").cloned())
            .collect();
        let mut quarantine = Quarantine::default();
        if !recorded.is_empty() {
            // Only what is still in the original layout counts.
            let still: Vec<Document> = self
                .bounded(async {
                    self.collection
                        .find(doc! {"$and": [legacy_filter(), {"_id": {"$in": recorded.clone()}}]})
                        .projection(doc! {"_id": 1, "user_id": 1})
                        .await?
                        .try_collect()
                        .await
                })
                .await?;
            for d in still {
                let Ok(id) = d.get_object_id("_id") else {
                    continue;
                };
                quarantine
                    .ids
                    .insert(TransactionId::new(ObjectId::from_bytes(id.bytes())));
                // A document whose owner is not an ObjectId is no user's: no read finds it.
                if let Ok(user) = d.get_object_id("user_id") {
                    *quarantine
                        .users
                        .entry(UserId::new(ObjectId::from_bytes(user.bytes())))
                        .or_default() += 1;
                }
            }
        }
        let found = self
            .bounded(
                self.collection
                    .find_one(doc! {"$and": [legacy_filter(), {"_id": {"$nin": recorded}}]})
                    .projection(doc! {"_id": 1}),
            )
            .await?
            .is_some();
        self.legacy.present.store(found, Ordering::Release);
        *self
            .legacy
            .quarantine
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = quarantine;
        *self
            .legacy
            .checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        Ok(found)
    }

    /// Re-runs the legacy check if there was something to check and it is older than
    /// [`RECHECK`].
    async fn recheck_if_stale(&self) -> Result<(), StoreError> {
        let watching =
            self.legacy.present.load(Ordering::Acquire) || !self.quarantine().ids.is_empty();
        if !watching {
            return Ok(());
        }
        let stale = self
            .legacy
            .checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none_or(|at| at.elapsed() >= RECHECK);
        if stale {
            let was_blocked = self.legacy.present.load(Ordering::Acquire);
            if !self.legacy_documents_present().await? && was_blocked {
                tracing::info!("no document in the original layout is left unconverted: serving");
            }
        }
        Ok(())
    }

    /// `Err(MigrationRequired)` while legacy documents that were not set aside are
    /// present (re-checked at most every 10 s); free when there are none.
    pub(crate) async fn require_migrated(&self) -> Result<(), StoreError> {
        self.recheck_if_stale().await?;
        if !self.legacy.present.load(Ordering::Acquire) {
            return Ok(());
        }
        Err(StoreError::MigrationRequired(
            "the database holds documents written by the original service; run `fido migrate`"
                .into(),
        ))
    }

    fn quarantine(&self) -> std::sync::RwLockReadGuard<'_, Quarantine> {
        self.legacy
            .quarantine
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// [`require_migrated`](Self::require_migrated), and `Err(Quarantined)` when some of
    /// `user`'s documents were set aside.
    pub(crate) async fn require_user_served(&self, user: UserId) -> Result<(), StoreError> {
        self.require_migrated().await?;
        match self.quarantine().users.get(&user) {
            Some(&documents) => Err(StoreError::Quarantined { documents }),
            None => Ok(()),
        }
    }

    /// [`require_migrated`](Self::require_migrated), and `Err(Quarantined)` when the
    /// document `id` was set aside.
    pub(crate) async fn require_id_served(&self, id: TransactionId) -> Result<(), StoreError> {
        self.require_migrated().await?;
        if self.quarantine().ids.contains(&id) {
            return Err(StoreError::Quarantined { documents: 1 });
        }
        Ok(())
    }

    /// [`require_migrated`](Self::require_migrated), and `Err(MigrationRequired)` while any
    /// document is set aside: a copy of the whole store would leave them behind.
    pub(crate) async fn require_complete(&self) -> Result<(), StoreError> {
        self.require_migrated().await?;
        let documents = self.quarantined_now();
        if documents > 0 {
            return Err(StoreError::MigrationRequired(format!(
                "{documents} document(s) were set aside by `fido migrate` (it could not convert them): fix or remove them and run it again before copying the whole store"
            )));
        }
        Ok(())
    }

    /// How many documents are set aside, as of the last check.
    pub(crate) fn quarantined_now(&self) -> u64 {
        self.quarantine().ids.len() as u64
    }

    /// Records documents `fido migrate` could not convert, with the reason (their users'
    /// reads then answer `Quarantined` instead of the whole service stopping).
    pub async fn set_aside(&self, documents: &[(TransactionId, String)]) -> Result<(), StoreError> {
        for (id, reason) in documents {
            self.bounded(
                self.quarantine
                    .replace_one(
                        doc! {"_id": object_id(id.object_id())},
                        doc! {"_id": object_id(id.object_id()), "reason": reason.as_str(),
                        "at": mongodb::bson::DateTime::now()},
                    )
                    .upsert(true),
            )
            .await?;
        }
        Ok(())
    }

    /// Forgets set-aside records of documents that were converted since.
    pub async fn release(&self, ids: &[TransactionId]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<Bson> = ids
            .iter()
            .map(|id| Bson::ObjectId(object_id(id.object_id())))
            .collect();
        self.bounded(self.quarantine.delete_many(doc! {"_id": {"$in": ids}}))
            .await?;
        Ok(())
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

    /// Converts a batch: each `found` document replaced by its record (plus its `legacy`
    /// values) only if it is still exactly as found; one flag per item, `true` where
    /// replaced. On a replica set the batch is one transaction of a few commands (the
    /// documents read again, the unchanged ones removed, their conversions inserted in
    /// one); on a standalone server, one compare-and-set per document.
    pub async fn convert_legacy_batch(
        &self,
        items: &[(&LegacyDocument, TransactionRecord, Option<Document>)],
    ) -> Result<Vec<bool>, StoreError> {
        if !self.server_has_transactions().await? {
            let mut done = Vec::with_capacity(items.len());
            for (found, record, legacy) in items {
                let converted = self.convert_legacy(found, record, legacy.as_ref()).await?;
                if converted {
                    let entry = fido_domain::HistoryEntry::created(record, Actor::migrate());
                    self.append_history_plain(&entry).await?;
                }
                done.push(converted);
            }
            return Ok(done);
        }
        // Each converted document starts its history with a `created` version by
        // `migrate`, written in the same transaction as the conversion.
        type Planned = (
            mongodb::bson::oid::ObjectId,
            Document,
            Document,
            HistoryEntry,
        );
        let planned: std::sync::Arc<Vec<Planned>> = std::sync::Arc::new(
            items
                .iter()
                .map(|(found, record, legacy)| {
                    (
                        object_id(found.id.object_id()),
                        found.original.clone(),
                        conversion(record, legacy.as_ref()),
                        HistoryEntry::created(record, Actor::migrate()),
                    )
                })
                .collect(),
        );
        let store = self.clone();
        self.transaction(move |session| {
            let (store, planned) = (store.clone(), planned.clone());
            let collection = store.collection.clone();
            Box::pin(async move {
                let ids: Vec<Bson> = planned.iter().map(|(id, ..)| Bson::ObjectId(*id)).collect();
                let now =
                    crate::slices::find_in(&collection, session, "_id", &ids, &Document::new())
                        .await?;
                let now: HashMap<mongodb::bson::oid::ObjectId, Document> = now
                    .into_iter()
                    .filter_map(|d| Some((d.get_object_id("_id").ok()?, d)))
                    .collect();
                let done: Vec<bool> = planned
                    .iter()
                    .map(|(id, original, ..)| now.get(id) == Some(original))
                    .collect();
                let (unchanged, replacements): (Vec<Bson>, Vec<Document>) = planned
                    .iter()
                    .zip(&done)
                    .filter(|(_, same)| **same)
                    .map(|((id, _, replacement, _), _)| (Bson::ObjectId(*id), replacement.clone()))
                    .unzip();
                if !unchanged.is_empty() {
                    crate::slices::delete_ids(&collection, session, &unchanged).await?;
                    collection
                        .insert_many(replacements)
                        .session(&mut *session)
                        .await?;
                    let versions: Vec<HistoryEntry> = planned
                        .iter()
                        .zip(&done)
                        .filter(|(_, same)| **same)
                        .map(|((.., entry), _)| entry.clone())
                        .collect();
                    store.append_history_missing(session, &versions).await?;
                }
                Ok(done)
            })
        })
        .await
    }

    /// Replaces `found` by `record` (plus `legacy`, the original values a conversion
    /// adjusted) only if the document is still exactly `found`: `true` when replaced.
    async fn convert_legacy(
        &self,
        found: &LegacyDocument,
        record: &TransactionRecord,
        legacy: Option<&Document>,
    ) -> Result<bool, StoreError> {
        let result = self
            .bounded(
                self.collection
                    .replace_one(found.original.clone(), conversion(record, legacy)),
            )
            .await?;
        Ok(result.matched_count == 1)
    }
}
