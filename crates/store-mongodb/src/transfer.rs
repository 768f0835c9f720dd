//! The [`StoreTransfer`] port: the whole contents in key order, and written back as they
//! were. The daily roll-ups do not follow `put_records` here: `fido copy` and
//! `fido import` repair them afterwards.

use async_trait::async_trait;
use fido_domain::{
    IdempotencyRecord, PublisherCursor, StoreError, StoreTransfer, StoredEvent, TransactionId,
    TransactionRecord,
};
use mongodb::bson::{doc, Bson, Document};

use crate::documents::{bson_date, object_id, record_from, record_to};
use crate::events::{cursor_doc, cursor_from, event_doc, to_i64, COUNTER};
use crate::idempotency;
use crate::transactions::ids_after;
use crate::MongoStore;

#[async_trait]
impl StoreTransfer for MongoStore {
    async fn records_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        self.require_migrated().await?;
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
        for r in &records {
            let doc = record_to(r);
            self.bounded(
                self.collection
                    .replace_one(doc! {"_id": object_id(r.id.object_id())}, doc)
                    .upsert(true),
            )
            .await?;
        }
        Ok(())
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
        for r in &records {
            let key = doc! {"s": &r.scope, "k": &r.key};
            self.bounded(
                self.idempotency
                    .replace_one(
                        doc! {"_id": key.clone()},
                        doc! {
                            "_id": key,
                            "fingerprint": &r.fingerprint,
                            "transaction_id": object_id(r.transaction_id.object_id()),
                            "snapshot": r.snapshot.clone().map_or(Bson::Null, Bson::String),
                            "lease_until": bson_date(r.lease_until),
                            "expires_at": bson_date(r.expires_at),
                        },
                    )
                    .upsert(true),
            )
            .await?;
        }
        Ok(())
    }

    async fn put_events(
        &self,
        events: Vec<StoredEvent>,
        last_sequence: u64,
        pruned_through: u64,
    ) -> Result<(), StoreError> {
        for stored in &events {
            let Some(subject) = stored.event.subject() else {
                continue;
            };
            let doc = event_doc(stored.sequence, &stored.event, subject);
            self.bounded(
                self.events
                    .replace_one(doc! {"_id": to_i64(stored.sequence)}, doc)
                    .upsert(true),
            )
            .await?;
        }
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
        for (name, cursor) in &cursors {
            let mut doc = cursor_doc(cursor);
            doc.insert("_id", name.as_str());
            self.bounded(
                self.cursors
                    .replace_one(doc! {"_id": name.as_str()}, doc)
                    .upsert(true),
            )
            .await?;
        }
        Ok(())
    }
}
