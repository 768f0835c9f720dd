//! The [`IdempotencyStore`] port on the `fido_idempotency` collection: one document per
//! `(scope, key)`, removed by a TTL index once it expires.
//!
//! A claim inserts the document; a duplicate means someone holds the key, and the
//! document decides what this request gets. Every change to an existing document is a
//! compare-and-set on the field it read, so two racing requests never both win.

use async_trait::async_trait;
use fido_domain::{
    Claim, ClaimRequest, ClaimStep, HeldClaim, IdempotencyKey, IdempotencyRecord, IdempotencyStore,
    ObjectId, SealedKey, StoreError, Timestamp, TransactionId,
};
use mongodb::bson::{doc, Bson, Document};

use crate::documents::{bson_date, object_id};
use crate::MongoStore;

fn key_id(scope: &str, key: &IdempotencyKey) -> Document {
    doc! {"s": scope, "k": key.as_str()}
}

/// A record's encrypted parts; anything not in the shape `claim` writes is corrupt.
fn sealed_from(doc: &Document) -> Result<SealedKey, StoreError> {
    let id = doc.get_document("_id").map_err(|_| corrupt("_id"))?;
    let text = |d: &Document, field: &str| {
        d.get_str(field)
            .map(str::to_owned)
            .map_err(|_| corrupt(field))
    };
    let snapshot = match doc.get("snapshot") {
        None | Some(Bson::Null) => None,
        Some(Bson::String(s)) => Some(s.clone()),
        Some(_) => return Err(corrupt("snapshot")),
    };
    Ok(SealedKey {
        scope: text(id, "s")?,
        key: text(id, "k")?,
        fingerprint: text(doc, "fingerprint")?,
        snapshot,
    })
}

/// The keys after `(scope, key)` in `(scope, key)` order (all when `None`).
fn keys_after(after: Option<(String, String)>) -> Document {
    match after {
        Some((s, k)) => doc! {"$or": [
            {"_id.s": {"$gt": &s}},
            {"_id.s": &s, "_id.k": {"$gt": &k}},
        ]},
        None => Document::new(),
    }
}

fn corrupt(field: &str) -> StoreError {
    StoreError::Internal(format!("an idempotency key has an invalid {field}"))
}

/// A whole record (for transfers); anything not in the shape `claim` writes is corrupt.
pub(crate) fn key_record_from(d: &Document) -> Result<IdempotencyRecord, StoreError> {
    let sealed = sealed_from(d)?;
    let time = |f: &str| {
        d.get_datetime(f)
            .ok()
            .and_then(|t| Timestamp::from_millis(t.timestamp_millis()).ok())
            .ok_or_else(|| corrupt(f))
    };
    Ok(IdempotencyRecord {
        scope: sealed.scope,
        key: sealed.key,
        fingerprint: sealed.fingerprint,
        transaction_id: TransactionId::new(ObjectId::from_bytes(
            d.get_object_id("transaction_id")
                .map_err(|_| corrupt("transaction_id"))?
                .bytes(),
        )),
        snapshot: sealed.snapshot,
        lease_until: time("lease_until")?,
        expires_at: time("expires_at")?,
    })
}

impl MongoStore {
    /// Up to `limit` idempotency documents after `(scope, key)`, in that order.
    pub(crate) async fn key_docs_after(
        &self,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<Document>, StoreError> {
        self.find_sorted(
            &self.idempotency,
            keys_after(after),
            doc! {"_id.s": 1, "_id.k": 1},
            Some(limit),
        )
        .await
    }
}

/// Reads a held key. A missing or mistyped field is a corrupt document (an internal
/// error), never a default that could hand the key to the wrong request.
fn held_from(existing: &Document) -> Result<HeldClaim, StoreError> {
    let time = |field: &str| {
        existing
            .get_datetime(field)
            .ok()
            .and_then(|d| Timestamp::from_millis(d.timestamp_millis()).ok())
            .ok_or_else(|| corrupt(field))
    };
    let snapshot = match existing.get("snapshot") {
        Some(Bson::String(snapshot)) => Some(snapshot.clone()),
        None | Some(Bson::Null) => None,
        Some(_) => return Err(corrupt("snapshot")),
    };
    let tx = existing
        .get_object_id("transaction_id")
        .map_err(|_| corrupt("transaction_id"))?;
    Ok(HeldClaim {
        fingerprint: existing
            .get_str("fingerprint")
            .map_err(|_| corrupt("fingerprint"))?
            .to_owned(),
        transaction_id: TransactionId::new(ObjectId::from_bytes(tx.bytes())),
        snapshot,
        lease_until: time("lease_until")?,
        expires_at: time("expires_at")?,
    })
}

impl MongoStore {
    /// Inserts a fresh claim; `false` when the key is already held.
    async fn insert_claim(&self, fresh: &Document) -> Result<bool, StoreError> {
        match self
            .bounded(self.idempotency.insert_one(fresh.clone()))
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::Duplicate) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Applies `update` (an update or a whole replacement) to `existing` if the `field`
    /// it was judged by is unchanged and it is still pending (no snapshot), when `pending`.
    async fn swap_claim(
        &self,
        existing: &Document,
        field: &str,
        pending: bool,
        update: Document,
    ) -> Result<bool, StoreError> {
        let mut filter = doc! {"_id": existing.get("_id").cloned().unwrap_or(Bson::Null)};
        filter.insert(field, existing.get(field).cloned().unwrap_or(Bson::Null));
        if pending {
            filter.insert("snapshot", Bson::Null);
        }
        let swapped = if update.keys().any(|k| k.starts_with('$')) {
            self.bounded(self.idempotency.find_one_and_update(filter, update))
                .await?
        } else {
            self.bounded(self.idempotency.find_one_and_replace(filter, update))
                .await?
        };
        Ok(swapped.is_some())
    }
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
            if self.insert_claim(&fresh).await? {
                return Ok(r.acquired());
            }
            let Some(existing) = self
                .bounded(self.idempotency.find_one(doc! {"_id": id.clone()}))
                .await?
            else {
                continue; // it expired and was removed meanwhile: claim again
            };
            // The decision is the domain's; each change is a compare-and-set on the field
            // it turned on, so a racing request makes this round try again.
            match r.decide(Some(held_from(&existing)?)) {
                ClaimStep::Answer(claim) => return Ok(claim),
                ClaimStep::Hold => {
                    let mut replacement = fresh.clone();
                    replacement.remove("_id");
                    if self
                        .swap_claim(&existing, "expires_at", false, replacement)
                        .await?
                    {
                        return Ok(r.acquired());
                    }
                }
                ClaimStep::TakeOver(claim) => {
                    let lease = doc! {"$set": {"lease_until": bson_date(r.lease_until)}};
                    if self
                        .swap_claim(&existing, "lease_until", true, lease)
                        .await?
                    {
                        return Ok(claim);
                    }
                }
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

    async fn sealed_after(
        &self,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<SealedKey>, StoreError> {
        self.key_docs_after(after, limit)
            .await?
            .iter()
            .map(sealed_from)
            .collect()
    }

    async fn replace_sealed(
        &self,
        expected: SealedKey,
        new: SealedKey,
    ) -> Result<bool, StoreError> {
        let snapshot = |s: &Option<String>| s.clone().map_or(Bson::Null, Bson::String);
        let filter = doc! {
            "_id": {"s": &expected.scope, "k": &expected.key},
            "fingerprint": &expected.fingerprint,
            "snapshot": snapshot(&expected.snapshot),
        };
        let update = doc! {"$set": {
            "fingerprint": &new.fingerprint,
            "snapshot": snapshot(&new.snapshot),
        }};
        let result = self
            .bounded(self.idempotency.update_one(filter, update))
            .await?;
        Ok(result.modified_count == 1)
    }
}
