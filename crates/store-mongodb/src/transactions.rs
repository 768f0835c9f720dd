//! The [`TransactionStore`] port on the `fido_transactions` collection.

use async_trait::async_trait;
use fido_domain::{
    Actor, EncryptedName, HistoryEntry, ListFilter, ListQuery, OutboxEvent, Page, Position,
    RecordPatch, StoreError, Timestamp, TransactionId, TransactionRecord, TransactionStore, UserId,
    Window, Written,
};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::options::ReturnDocument;

use crate::documents::{self, bson_date, object_id, record_from, record_to};
use crate::MongoStore;

/// The user's documents that pass `filter`, strictly after `after` in the listing order
/// (`transaction_date` descending, then `_id` descending) when given. Served by the
/// indexes `ensure_indexes` creates (see docs/mongodb.md).
///
/// Each condition is its own clause of an `$and` (MongoDB plans it like the combined
/// form; the pinned test server treats a bound of the combined form as exclusive with the
/// descending index — see `statistics::between`).
fn listing_filter(user: UserId, filter: &ListFilter, after: Option<Position>) -> Document {
    let mut clauses = vec![doc! {"user_id": object_id(user.object_id())}];
    if let Some(kind) = filter.kind() {
        clauses.push(doc! {"transaction_type": kind.as_str()});
    }
    if let Some(start) = filter.dates().start() {
        clauses.push(doc! {"transaction_date": {"$gte": bson_date(start)}});
    }
    if let Some(end) = filter.dates().end() {
        clauses.push(doc! {"transaction_date": {"$lte": bson_date(end)}});
    }
    if let Some(min) = filter.min_amount() {
        clauses.push(doc! {"amount_cents": {"$gte": documents::cents(min)}});
    }
    if let Some(max) = filter.max_amount() {
        clauses.push(doc! {"amount_cents": {"$lte": documents::cents(max)}});
    }
    if let Some(after) = after {
        let date = bson_date(after.date);
        clauses.push(doc! {"$or": [
            {"transaction_date": {"$lt": date}},
            {"transaction_date": date, "_id": {"$lt": object_id(after.id.object_id())}},
        ]});
    }
    doc! {"$and": clauses}
}

pub(crate) fn id_filter(id: TransactionId) -> Document {
    doc! {"_id": object_id(id.object_id())}
}

/// The documents with an `_id` above `after` (all when `None`).
pub(crate) fn ids_after(after: Option<TransactionId>) -> Document {
    match after {
        Some(id) => doc! {"_id": {"$gt": object_id(id.object_id())}},
        None => Document::new(),
    }
}

/// The record, at `expected_version` when one is given.
fn conditional(id: TransactionId, expected_version: Option<u64>) -> Document {
    let mut filter = id_filter(id);
    if let Some(version) = expected_version {
        filter.insert("version", i64::try_from(version).unwrap_or(i64::MAX));
    }
    filter
}

/// What `patch` makes of `before` (as the update command does on the server).
fn patched(before: &TransactionRecord, patch: &RecordPatch) -> TransactionRecord {
    TransactionRecord {
        full_name: patch
            .full_name
            .clone()
            .unwrap_or_else(|| before.full_name.clone()),
        amount: patch.amount.unwrap_or(before.amount),
        kind: patch.kind.unwrap_or(before.kind),
        updated_at: patch.updated_at,
        version: before.version + 1,
        ..before.clone()
    }
}

fn read_optional(doc: Option<Document>) -> Result<Option<TransactionRecord>, StoreError> {
    doc.as_ref().map(record_from).transpose()
}

#[async_trait]
impl TransactionStore for MongoStore {
    async fn insert(&self, record: TransactionRecord, actor: Actor) -> Result<(), StoreError> {
        self.require_migrated().await?;
        let entry = HistoryEntry::created(&record, actor);
        if !self.keeps_rollups().await? {
            // A server without transactions: the row, then its version.
            self.bounded(self.collection.insert_one(record_to(&record)))
                .await?;
            return self.append_history_plain(&entry).await;
        }
        // The transaction, its day's roll-up, its event and its version, in one
        // multi-document transaction.
        let with_event = self.writes_events().await?;
        let store = self.clone();
        let event = OutboxEvent::created(&record);
        self.transaction(move |session| {
            let (store, record, event, entry) =
                (store.clone(), record.clone(), event.clone(), entry.clone());
            Box::pin(async move {
                store
                    .collection
                    .insert_one(record_to(&record))
                    .session(&mut *session)
                    .await?;
                store.apply_rollup(session, &record, 1).await?;
                if with_event {
                    store.append_event(session, &event).await?;
                }
                store.append_history(session, &entry).await?;
                Ok(())
            })
        })
        .await?;
        self.committed(with_event);
        Ok(())
    }

    async fn get(&self, id: TransactionId) -> Result<Option<TransactionRecord>, StoreError> {
        self.require_id_served(id).await?;
        read_optional(
            self.bounded(self.collection.find_one(id_filter(id)))
                .await?,
        )
    }

    async fn update(&self, id: TransactionId, patch: RecordPatch) -> Result<Written, StoreError> {
        self.require_id_served(id).await?;
        let mut set = doc! {"updated_at": bson_date(patch.updated_at)};
        if let Some(name) = &patch.full_name {
            set.insert("full_name", name.as_str());
        }
        if let Some(amount) = patch.amount {
            set.insert("amount_cents", documents::cents(amount));
        }
        if let Some(kind) = patch.kind {
            set.insert("transaction_type", kind.as_str());
        }
        let filter = conditional(id, patch.expected_version);
        let update = doc! {"$set": set, "$inc": {"version": 1_i64}};
        if !self.keeps_rollups().await? {
            // A server without transactions: the change, then its version.
            let before = self
                .bounded(
                    self.collection
                        .find_one_and_update(filter, update)
                        .return_document(ReturnDocument::Before),
                )
                .await?;
            let Some(before) = read_optional(before)? else {
                return self.outcome(id, None).await;
            };
            let after = patched(&before, &patch);
            self.append_history_plain(&HistoryEntry::updated(&before, &after, patch.actor))
                .await?;
            return Ok(Written::Done(after));
        }
        // The record as it was and as it is now, the day's roll-up moved from one to the
        // other, the event and the version, in one transaction.
        let with_event = self.writes_events().await?;
        let store = self.clone();
        let changed = self
            .transaction(move |session| {
                let (store, filter, update, patch) =
                    (store.clone(), filter.clone(), update.clone(), patch.clone());
                Box::pin(async move {
                    let Some(before) = store
                        .collection
                        .find_one_and_update(filter, update)
                        .return_document(ReturnDocument::Before)
                        .session(&mut *session)
                        .await?
                    else {
                        return Ok(None);
                    };
                    let Ok(before) = record_from(&before) else {
                        return Err(mongodb::error::Error::custom(
                            "a stored transaction is not in the store's shape",
                        ));
                    };
                    // What the update made of it (no second read inside the transaction).
                    let after = patched(&before, &patch);
                    if (before.amount, before.kind) != (after.amount, after.kind) {
                        store.apply_rollup(session, &before, -1).await?;
                        store.apply_rollup(session, &after, 1).await?;
                    }
                    if with_event {
                        store
                            .append_event(session, &OutboxEvent::updated(&before, &after))
                            .await?;
                    }
                    let entry = HistoryEntry::updated(&before, &after, patch.actor.clone());
                    store.append_history(session, &entry).await?;
                    Ok(Some(after))
                })
            })
            .await?;
        match changed {
            Some(after) => {
                self.committed(with_event);
                Ok(Written::Done(after))
            }
            None => self.outcome(id, None).await,
        }
    }

    async fn delete(
        &self,
        id: TransactionId,
        expected_version: Option<u64>,
        deleted_at: Timestamp,
        actor: Actor,
    ) -> Result<Written, StoreError> {
        self.require_id_served(id).await?;
        let filter = conditional(id, expected_version);
        if !self.keeps_rollups().await? {
            // A server without transactions: the removal, then its version.
            let deleted = self
                .bounded(self.collection.find_one_and_delete(filter))
                .await?;
            let Some(gone) = read_optional(deleted)? else {
                return self.outcome(id, None).await;
            };
            self.append_history_plain(&HistoryEntry::deleted(&gone, deleted_at, actor))
                .await?;
            return Ok(Written::Done(gone));
        }
        let with_event = self.writes_events().await?;
        let store = self.clone();
        let deleted = self
            .transaction(move |session| {
                let (store, filter, actor) = (store.clone(), filter.clone(), actor.clone());
                Box::pin(async move {
                    let Some(gone) = store
                        .collection
                        .find_one_and_delete(filter)
                        .session(&mut *session)
                        .await?
                    else {
                        return Ok(None);
                    };
                    let Ok(record) = record_from(&gone) else {
                        return Err(mongodb::error::Error::custom(
                            "a stored transaction is not in the store's shape",
                        ));
                    };
                    store.apply_rollup(session, &record, -1).await?;
                    if with_event {
                        let event = OutboxEvent::deleted(&record, deleted_at);
                        store.append_event(session, &event).await?;
                    }
                    let entry = HistoryEntry::deleted(&record, deleted_at, actor);
                    store.append_history(session, &entry).await?;
                    Ok(Some(record))
                })
            })
            .await?;
        match deleted {
            Some(record) => {
                self.committed(with_event);
                Ok(Written::Done(record))
            }
            None => self.outcome(id, None).await,
        }
    }

    async fn list_by_user(
        &self,
        user: UserId,
        query: ListQuery,
    ) -> Result<Page<TransactionRecord>, StoreError> {
        self.require_user_served(user).await?;
        let (after, skip) = match query.window {
            Window::Page(page) => (None, page.offset()),
            Window::After { after, .. } => (after, 0),
        };
        let count = self.bounded(self.collection.count_documents(listing_filter(
            user,
            &query.filter,
            None,
        )));
        // One document more than asked: it tells whether a next page exists.
        let find = self.bounded(async {
            self.collection
                .find(listing_filter(user, &query.filter, after))
                .sort(doc! {"transaction_date": -1, "_id": -1})
                .skip(skip)
                .limit(i64::from(query.window.limit()) + 1)
                .await?
                .try_collect::<Vec<Document>>()
                .await
        });
        let (total, docs) = futures_util::future::try_join(count, find).await?;
        let rows = docs.iter().map(record_from).collect::<Result<_, _>>()?;
        Ok(Page::of_rows(user, &query, total, rows))
    }

    async fn scan_by_user(
        &self,
        user: UserId,
        filter: ListFilter,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        self.require_user_served(user).await?;
        let docs = self
            .find_sorted(
                &self.collection,
                listing_filter(user, &filter, after),
                doc! {"transaction_date": -1, "_id": -1},
                Some(limit),
            )
            .await?;
        docs.iter().map(record_from).collect()
    }

    async fn quarantined(&self) -> Result<u64, StoreError> {
        self.require_migrated().await?;
        Ok(self.quarantined_now())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.require_migrated().await?;
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
        self.require_migrated().await?;
        let filter = ids_after(after);
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
        self.require_migrated().await?;
        let filter = doc! {"_id": object_id(id.object_id()), "full_name": expected.as_str()};
        let update = doc! {"$set": {"full_name": new.as_str()}};
        let result = self
            .bounded(self.collection.update_one(filter, update))
            .await?;
        Ok(result.modified_count == 1)
    }
}
