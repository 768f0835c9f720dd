//! The [`HistoryLog`] port on the `fido_history` collection: one document per version,
//! written inside the change's own multi-document transaction (see `transactions.rs`).
//!
//! `_id` is `<transaction id hex>-<version, 20 digits>`, so the ids sort as
//! `(transaction id, version)`: one transaction's versions are one `_id` range, and a
//! transfer walks the collection by `_id`. `record`/`before` are subdocuments in the
//! transactions' own layout (`documents::record_to`; names stay cipher tokens).

use async_trait::async_trait;
use fido_domain::{
    Actor, HistoryAction, HistoryEntry, HistoryLog, ObjectId, StoreError, Timestamp, TransactionId,
    UserId,
};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::ClientSession;

use crate::documents::{bson_date, object_id, record_from, record_to};
use crate::MongoStore;

/// The history's collection.
pub const HISTORY_COLLECTION: &str = "fido_history";

/// The `_id` of a version.
pub(crate) fn key(id: TransactionId, version: u64) -> String {
    format!("{}-{version:020}", id.object_id().to_hex())
}

pub(crate) fn entry_to(e: &HistoryEntry) -> Document {
    doc! {
        "_id": key(e.transaction_id, e.version),
        "u": object_id(e.user_id.object_id()),
        "at": bson_date(e.at),
        "actor": e.actor.as_str(),
        "action": e.action.as_str(),
        "record": record_to(&e.record),
        "before": e.before.as_ref().map_or(Bson::Null, |b| Bson::Document(record_to(b))),
    }
}

fn corrupt(field: &str) -> StoreError {
    StoreError::Internal(format!("a history document has an invalid {field}"))
}

pub(crate) fn entry_from(d: &Document) -> Result<HistoryEntry, StoreError> {
    let id = d.get_str("_id").map_err(|_| corrupt("_id"))?;
    let (hex, version) = id.split_once('-').ok_or_else(|| corrupt("_id"))?;
    let record = record_from(d.get_document("record").map_err(|_| corrupt("record"))?)?;
    let before = match d.get("before") {
        Some(Bson::Document(before)) => Some(record_from(before)?),
        _ => None,
    };
    Ok(HistoryEntry {
        transaction_id: TransactionId::parse(hex).map_err(|_| corrupt("_id"))?,
        version: version.parse().map_err(|_| corrupt("_id"))?,
        user_id: UserId::new(ObjectId::from_bytes(
            d.get_object_id("u").map_err(|_| corrupt("u"))?.bytes(),
        )),
        at: d
            .get_datetime("at")
            .ok()
            .and_then(|t| Timestamp::from_millis(t.timestamp_millis()).ok())
            .ok_or_else(|| corrupt("at"))?,
        actor: Actor::new(d.get_str("actor").map_err(|_| corrupt("actor"))?)
            .map_err(|_| corrupt("actor"))?,
        action: HistoryAction::parse(d.get_str("action").map_err(|_| corrupt("action"))?)
            .ok_or_else(|| corrupt("action"))?,
        record,
        before,
    })
}

impl MongoStore {
    /// Writes `entry` inside `session`'s transaction (replacing a version kept already,
    /// as the change it records is the one that holds now).
    pub(crate) async fn append_history(
        &self,
        session: &mut ClientSession,
        entry: &HistoryEntry,
    ) -> mongodb::error::Result<()> {
        self.upsert_version(entry).session(&mut *session).await?;
        Ok(())
    }

    /// The write of a version: its document in place of any with its `_id`.
    fn upsert_version(&self, entry: &HistoryEntry) -> mongodb::action::ReplaceOne<'_> {
        self.history
            .replace_one(
                doc! {"_id": key(entry.transaction_id, entry.version)},
                entry_to(entry),
            )
            .upsert(true)
    }

    /// Writes `entry` on a server without transactions, right after its change (see
    /// docs/mongodb.md: only a replica set writes the two atomically).
    pub(crate) async fn append_history_plain(
        &self,
        entry: &HistoryEntry,
    ) -> Result<(), StoreError> {
        self.bounded(self.upsert_version(entry)).await?;
        Ok(())
    }

    /// Writes those of `entries` whose version is not kept yet, inside `session`'s
    /// transaction (an import: a version carried with its export stays).
    pub(crate) async fn append_history_missing(
        &self,
        session: &mut ClientSession,
        entries: &[HistoryEntry],
    ) -> mongodb::error::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let keys: Vec<Bson> = entries
            .iter()
            .map(|e| Bson::String(key(e.transaction_id, e.version)))
            .collect();
        let kept =
            crate::slices::find_in(&self.history, session, "_id", &keys, &Document::new()).await?;
        let kept: std::collections::HashSet<&str> =
            kept.iter().filter_map(|d| d.get_str("_id").ok()).collect();
        let missing: Vec<Document> = entries
            .iter()
            .filter(|e| !kept.contains(key(e.transaction_id, e.version).as_str()))
            .map(entry_to)
            .collect();
        if !missing.is_empty() {
            self.history
                .insert_many(missing)
                .session(&mut *session)
                .await?;
        }
        Ok(())
    }

    /// Up to `limit` entries after `(id, version)`, in `_id` order.
    pub(crate) async fn history_docs_after(
        &self,
        after: Option<(TransactionId, u64)>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let filter = match after {
            Some((id, version)) => doc! {"_id": {"$gt": key(id, version)}},
            None => Document::new(),
        };
        self.versions(filter, Some(i64::from(limit))).await
    }

    /// The versions `filter` selects, in `_id` order, at most `limit` of them.
    async fn versions(
        &self,
        filter: Document,
        limit: Option<i64>,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let docs: Vec<Document> = self
            .bounded(async {
                self.history
                    .find(filter)
                    .sort(doc! {"_id": 1})
                    .limit(limit.unwrap_or(0))
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        docs.iter().map(entry_from).collect()
    }

    /// Writes entries as they are, each replacing the version of its `_id`.
    pub(crate) async fn put_history_docs(
        &self,
        entries: Vec<HistoryEntry>,
    ) -> Result<(), StoreError> {
        let docs = entries.iter().map(entry_to).collect();
        self.put_all(&self.history, docs).await
    }
}

#[async_trait]
impl HistoryLog for MongoStore {
    async fn history(&self, id: TransactionId) -> Result<Vec<HistoryEntry>, StoreError> {
        let hex = id.object_id().to_hex();
        // `-` sorts just before `.`: every `<hex>-…` id lies between the two.
        let filter = doc! {"_id": {"$gt": format!("{hex}-"), "$lt": format!("{hex}.")}};
        self.versions(filter, None).await
    }

    async fn prune_history(&self, before: Timestamp) -> Result<u64, StoreError> {
        let removed = self
            .bounded(
                self.history
                    .delete_many(doc! {"at": {"$lt": bson_date(before)}}),
            )
            .await?;
        Ok(removed.deleted_count)
    }
}
