//! The [`StoreTransfer`] port: the whole contents in key order, and written back as they
//! were. The daily roll-ups do not follow `put_records` here: `fido copy` and
//! `fido import` repair them afterwards.

use async_trait::async_trait;
use fido_domain::{
    IdempotencyRecord, ObjectId, PublisherCursor, StoreError, StoreTransfer, StoredEvent,
    Timestamp, TransactionId, TransactionRecord,
};
use mongodb::bson::{doc, Bson, Document};

use crate::documents::{bson_date, object_id, record_from, record_to};
use crate::events::{cursor_doc, cursor_from, event_doc, COUNTER};
use crate::idempotency::keys_after;
use crate::MongoStore;

fn corrupt(field: &str) -> StoreError {
    StoreError::Internal(format!("an idempotency key has an invalid {field}"))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn idempotency_from(d: &Document) -> Result<IdempotencyRecord, StoreError> {
    let id = d.get_document("_id").map_err(|_| corrupt("_id"))?;
    let text = |doc: &Document, f: &str| doc.get_str(f).map(str::to_owned).map_err(|_| corrupt(f));
    let time = |f: &str| {
        d.get_datetime(f)
            .ok()
            .and_then(|t| Timestamp::from_millis(t.timestamp_millis()).ok())
            .ok_or_else(|| corrupt(f))
    };
    Ok(IdempotencyRecord {
        scope: text(id, "s")?,
        key: text(id, "k")?,
        fingerprint: text(d, "fingerprint")?,
        transaction_id: TransactionId::new(ObjectId::from_bytes(
            d.get_object_id("transaction_id")
                .map_err(|_| corrupt("transaction_id"))?
                .bytes(),
        )),
        snapshot: match d.get("snapshot") {
            None | Some(Bson::Null) => None,
            Some(Bson::String(s)) => Some(s.clone()),
            Some(_) => return Err(corrupt("snapshot")),
        },
        lease_until: time("lease_until")?,
        expires_at: time("expires_at")?,
    })
}

#[async_trait]
impl StoreTransfer for MongoStore {
    async fn records_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        self.require_migrated().await?;
        let filter = match after {
            Some(id) => doc! {"_id": {"$gt": object_id(id.object_id())}},
            None => Document::new(),
        };
        let docs: Vec<Document> = self
            .find_sorted(&self.collection, filter, doc! {"_id": 1}, Some(limit))
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
        let filter = keys_after(after);
        let docs: Vec<Document> = self
            .find_sorted(
                &self.idempotency,
                filter,
                doc! {"_id.s": 1, "_id.k": 1},
                Some(limit),
            )
            .await?;
        docs.iter().map(idempotency_from).collect()
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
