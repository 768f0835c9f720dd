//! The [`StoreTransfer`] port: the whole contents in key order, and written back as they
//! were. The daily roll-ups do not follow `put_records` here (`fido copy` repairs them
//! afterwards); `import_records` writes each change with its roll-ups and event, in a
//! multi-document transaction per chunk, like the API's writes.

use std::collections::HashMap;

use async_trait::async_trait;

use fido_domain::{
    Actor, HistoryEntry, IdempotencyRecord, ImportCounts, ImportStep, PublisherCursor, StoreError,
    StoreTransfer, StoredEvent, TransactionId, TransactionRecord,
};
use mongodb::bson::{doc, Bson, Document};
use mongodb::ClientSession;

use crate::documents::{bson_date, object_id, record_from, record_to};
use crate::events::{cursor_doc, cursor_from, event_doc, to_i64, COUNTER};
use crate::idempotency;
use crate::transactions::ids_after;
use crate::MongoStore;

/// Most documents in one `insert_many` of a transfer: each command stays well inside the
/// operation timeout, and the whole batch still goes in a handful of round trips.
const PUT_CHUNK: usize = 100;

#[async_trait]
impl StoreTransfer for MongoStore {
    async fn records_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        self.require_complete().await?;
        let docs: Vec<Document> = self
            .find_sorted(
                &self.collection,
                ids_after(after),
                doc! {"_id": 1},
                Some(limit),
            )
            .await?;
        docs.iter().map(record_from).collect()
    }

    async fn put_records(&self, records: Vec<TransactionRecord>) -> Result<(), StoreError> {
        self.put_all(&self.collection, records.iter().map(record_to).collect())
            .await
    }

    async fn remove_records(&self, ids: Vec<TransactionId>) -> Result<(), StoreError> {
        for chunk in ids.chunks(PUT_CHUNK) {
            let ids: Vec<mongodb::bson::Bson> = chunk
                .iter()
                .map(|id| {
                    mongodb::bson::Bson::ObjectId(crate::documents::object_id(id.object_id()))
                })
                .collect();
            self.bounded(self.collection.delete_many(doc! {"_id": {"$in": ids}}))
                .await?;
        }
        Ok(())
    }

    async fn import_records(
        &self,
        records: Vec<TransactionRecord>,
        actor: Actor,
    ) -> Result<ImportCounts, StoreError> {
        self.require_migrated().await?;
        if !self.keeps_rollups().await? {
            // A standalone server has no transactions, so no roll-ups and no events:
            // written as they are, like the API's writes there, then their versions.
            let mut counts = ImportCounts::default();
            for chunk in records.chunks(PUT_CHUNK) {
                counts = counts.plus(self.import_plain(chunk, &actor).await?);
            }
            return Ok(counts);
        }
        let with_event = self.writes_events().await?;
        let mut counts = ImportCounts::default();
        // A transaction per chunk keeps each one well inside the operation timeout.
        for chunk in records.chunks(IMPORT_CHUNK) {
            let store = self.clone();
            let chunk = chunk.to_vec();
            let actor = actor.clone();
            let done = self
                .transaction(move |session| {
                    let (store, chunk, actor) = (store.clone(), chunk.clone(), actor.clone());
                    Box::pin(
                        async move { store.import_in(session, &chunk, with_event, &actor).await },
                    )
                })
                .await?;
            self.committed(with_event && done.created + done.replaced > 0);
            counts = counts.plus(done);
        }
        Ok(counts)
    }

    async fn history_after(
        &self,
        after: Option<(TransactionId, u64)>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.history_docs_after(after, limit).await
    }

    async fn put_history(&self, entries: Vec<HistoryEntry>) -> Result<(), StoreError> {
        self.put_history_docs(entries).await
    }

    async fn idempotency_after(
        &self,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<IdempotencyRecord>, StoreError> {
        self.key_docs_after(after, limit)
            .await?
            .iter()
            .map(idempotency::key_record_from)
            .collect()
    }

    async fn put_idempotency(&self, records: Vec<IdempotencyRecord>) -> Result<(), StoreError> {
        let docs = records
            .iter()
            .map(|r| {
                doc! {
                    "_id": {"s": &r.scope, "k": &r.key},
                    "fingerprint": &r.fingerprint,
                    "transaction_id": object_id(r.transaction_id.object_id()),
                    "snapshot": r.snapshot.clone().map_or(Bson::Null, Bson::String),
                    "lease_until": bson_date(r.lease_until),
                    "expires_at": bson_date(r.expires_at),
                }
            })
            .collect();
        self.put_all(&self.idempotency, docs).await
    }

    async fn put_events(
        &self,
        events: Vec<StoredEvent>,
        last_sequence: u64,
        pruned_through: u64,
    ) -> Result<(), StoreError> {
        let docs = events
            .iter()
            .filter_map(|stored| {
                let subject = stored.event.subject()?;
                Some(event_doc(stored.sequence, &stored.event, subject))
            })
            .collect();
        self.put_all(&self.events, docs).await?;
        // The marks only move forwards.
        self.bounded(
            self.meta
                .update_one(
                    doc! {"_id": COUNTER},
                    doc! {"$max": {"seq": to_i64(last_sequence), "pruned": to_i64(pruned_through)}},
                )
                .upsert(true),
        )
        .await?;
        Ok(())
    }

    async fn cursors(&self) -> Result<Vec<(String, PublisherCursor)>, StoreError> {
        let docs: Vec<Document> = self
            .find_sorted(&self.cursors, Document::new(), doc! {"_id": 1}, None)
            .await?;
        docs.iter()
            .map(|d| {
                let name = d
                    .get_str("_id")
                    .map_err(|_| StoreError::Internal("a cursor has an invalid _id".into()))?;
                Ok((name.to_owned(), cursor_from(d)?))
            })
            .collect()
    }

    async fn put_cursors(&self, cursors: Vec<(String, PublisherCursor)>) -> Result<(), StoreError> {
        let docs = cursors
            .iter()
            .map(|(name, cursor)| {
                let mut doc = cursor_doc(cursor);
                doc.insert("_id", name.as_str());
                doc
            })
            .collect();
        self.put_all(&self.cursors, docs).await
    }
}

/// Most records in one import transaction.
const IMPORT_CHUNK: usize = 200;

impl MongoStore {
    /// The stored records of `chunk`'s ids, inside `session` when given.
    async fn held(
        &self,
        chunk: &[TransactionRecord],
        session: Option<&mut ClientSession>,
    ) -> mongodb::error::Result<HashMap<TransactionId, TransactionRecord>> {
        let ids: Vec<Bson> = chunk
            .iter()
            .map(|r| Bson::ObjectId(object_id(r.id.object_id())))
            .collect();
        let docs = match session {
            Some(session) => {
                crate::slices::find_in(&self.collection, session, "_id", &ids, &Document::new())
                    .await?
            }
            None => crate::slices::find_in_plain(&self.collection, "_id", &ids).await?,
        };
        docs.iter()
            .map(|d| record_from(d).map(|r| (r.id, r)))
            .collect::<Result<_, _>>()
            .map_err(|e| mongodb::error::Error::custom(e.to_string()))
    }

    /// One import chunk inside `session`'s transaction: rows, roll-ups and events.
    async fn import_in(
        &self,
        session: &mut ClientSession,
        chunk: &[TransactionRecord],
        with_event: bool,
        actor: &Actor,
    ) -> mongodb::error::Result<ImportCounts> {
        let held = self.held(chunk, Some(&mut *session)).await?;
        let mut counts = ImportCounts::default();
        // In bulk: the new rows in one command, each replaced row on its own, the roll-up
        // changes summed per user and day, the events in one command, the versions not
        // carried already in one more.
        let (mut creates, mut rollups, mut events) = (Vec::new(), Vec::new(), Vec::new());
        let mut versions = Vec::new();
        for r in chunk {
            let step = ImportStep::of(held.get(&r.id), r);
            counts.count(&step);
            let (Some(event), Some(entry)) = (step.event(r), step.history(r, actor)) else {
                continue;
            };
            versions.push(entry);
            if let ImportStep::Replace(old) = step {
                self.collection
                    .replace_one(doc! {"_id": object_id(r.id.object_id())}, record_to(r))
                    .session(&mut *session)
                    .await?;
                rollups.push((old, -1));
            } else {
                creates.push(record_to(r));
            }
            rollups.push((r, 1));
            if with_event {
                events.push(event);
            }
        }
        if !creates.is_empty() {
            self.collection
                .insert_many(creates)
                .session(&mut *session)
                .await?;
        }
        self.apply_rollups(session, &rollups).await?;
        self.append_events(session, &events).await?;
        self.append_history_missing(session, &versions).await?;
        Ok(counts)
    }

    /// An import chunk on a server without transactions: rows only.
    async fn import_plain(
        &self,
        chunk: &[TransactionRecord],
        actor: &Actor,
    ) -> Result<ImportCounts, StoreError> {
        let held = self.bounded(self.held(chunk, None)).await?;
        let mut counts = ImportCounts::default();
        let (mut changed, mut versions) = (Vec::new(), Vec::new());
        for r in chunk {
            let step = ImportStep::of(held.get(&r.id), r);
            counts.count(&step);
            if let Some(entry) = step.history(r, actor) {
                changed.push(record_to(r));
                versions.push(entry);
            }
        }
        self.put_all(&self.collection, changed).await?;
        for entry in &versions {
            self.append_history_plain(entry).await?;
        }
        Ok(counts)
    }

    /// Writes `docs` as they are, each replacing the document of its `_id`: one unordered
    /// `insert_many` per [`PUT_CHUNK`] documents (a copy into an empty target is one command per batch,
    /// not one per document), then a replace of each document whose `_id` was already
    /// there. Any other failure is returned; what was written stays written, and writing
    /// the same batch again converges (every write is a replace by `_id`).
    pub(crate) async fn put_all(
        &self,
        collection: &mongodb::Collection<Document>,
        docs: Vec<Document>,
    ) -> Result<(), StoreError> {
        for chunk in docs.chunks(PUT_CHUNK) {
            let taken = match self
                .bounded_raw(collection.insert_many(chunk).ordered(false))
                .await?
            {
                Ok(_) => continue,
                Err(e) => {
                    crate::errors::duplicates_only(&e).ok_or_else(|| crate::errors::map_error(e))?
                }
            };
            for index in taken {
                let Some(doc) = chunk.get(index) else {
                    continue;
                };
                let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
                self.bounded(
                    collection
                        .replace_one(doc! {"_id": id}, doc.clone())
                        .upsert(true),
                )
                .await?;
            }
        }
        Ok(())
    }
}
