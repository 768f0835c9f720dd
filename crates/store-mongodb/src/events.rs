//! The outbox on MongoDB, in two steps so that no document is shared by every write:
//!
//! 1. **Written with the change**: each change inserts its event into
//!    `fido_event_outbox` (`_id` the event's UUIDv7, `u` its user) inside the change's
//!    multi-document transaction — beside the transaction's own document and its user's
//!    day roll-up, and nothing else. Writers never read or write a counter, so they neither
//!    take turns nor conflict, across processes or shards.
//! 2. **Numbered by the sequencer** ([`EventLog::sequence`], called by the relay that
//!    holds its lease): in one transaction it reads the highest sequence from
//!    `fido_meta` (`{_id: "events", seq, pruned}`), takes the oldest outbox events,
//!    arranges each transaction's events in version order, inserts them into the feed
//!    `fido_events` (`_id` the sequence, `id` unique) and deletes them from the outbox,
//!    and moves `seq` only if it is still what it read. Racing sequencers conflict on
//!    that one document, which only the sequencer writes; the loser retries with the next
//!    batch, and no event is numbered twice (the delete and the unique `id` see to it).
//!    A batch enters the feed all at once, in increasing sequences after everything
//!    before it, so a reader that has seen `n` never later sees a new event at or
//!    below `n`.
//!
//! Cursors in `fido_event_cursors`, given-up events in `fido_event_failures`, the relay's
//! lease in `fido_leases`. See `docs/decisions/0020-sequencer.md`.
//!
//! Transactions need a replica set: on a standalone server (see `rollups`) no event is
//! written and [`EventLog::enabled`] says so.

use std::time::Duration;

use async_trait::async_trait;
use fido_domain::{
    prune_through, Amount, Backlog, ChangedField, CursorSave, EventId, EventKind, EventLog,
    EventPage, FailedDelivery, ObjectId, OutboxEvent, PublisherCursor, StoreError, StoredEvent,
    Timestamp, TransactionId, TransactionSnapshot, TransactionType, UserId,
};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Binary, Bson, Document};
use mongodb::ClientSession;

use crate::documents::{bson_date, cents, object_id};
use crate::MongoStore;

/// The collection of events in the feed (numbered).
pub const EVENTS_COLLECTION: &str = "fido_events";
/// The collection of events committed with their changes and not yet numbered.
pub const OUTBOX_COLLECTION: &str = "fido_event_outbox";
/// The collection of publishers' cursors.
pub const CURSORS_COLLECTION: &str = "fido_event_cursors";
/// The collection of events a publisher gave up on.
pub const FAILURES_COLLECTION: &str = "fido_event_failures";
/// The collection of leases.
pub const LEASES_COLLECTION: &str = "fido_leases";
pub(crate) const COUNTER: &str = "events";
/// Why a sequencer step gave way (another one moved the counter first).
const LOST_RACE: &str = "another sequencer numbered events first";
/// Most events numbered per sequencer step.
const SEQUENCE_STEP: u32 = 1000;
/// Counting the unnumbered events stops here (health only needs to know it is large).
const COUNT_CAP: u64 = 1_000_000;

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("a stored event has an invalid {what}"))
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn get_u64(d: &Document, field: &str) -> Option<u64> {
    match d.get(field)? {
        Bson::Int64(n) => u64::try_from(*n).ok(),
        Bson::Int32(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

fn time(d: &Document, field: &str) -> Result<Timestamp, StoreError> {
    d.get_datetime(field)
        .ok()
        .and_then(|t| Timestamp::from_millis(t.timestamp_millis()).ok())
        .ok_or_else(|| corrupt(field))
}

fn optional_time(d: &Document, field: &str) -> Result<Option<Timestamp>, StoreError> {
    match d.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(_) => time(d, field).map(Some),
    }
}

fn part(s: &TransactionSnapshot) -> Document {
    doc! {
        "amt": cents(s.amount),
        "k": s.kind.as_str(),
        "up": bson_date(s.updated_at),
        "v": to_i64(s.version),
    }
}

fn uuid(id: EventId) -> Binary {
    Binary {
        subtype: mongodb::bson::spec::BinarySubtype::Uuid,
        bytes: id.bytes().to_vec(),
    }
}

pub(crate) fn event_doc(sequence: u64, e: &OutboxEvent, subject: &TransactionSnapshot) -> Document {
    let mut d = doc! {"_id": to_i64(sequence)};
    d.extend(event_fields(e, subject));
    d
}

/// An event as the outbox holds it before it is numbered: keyed by its id.
fn outbox_doc(e: &OutboxEvent, subject: &TransactionSnapshot) -> Document {
    let mut d = doc! {"_id": uuid(e.id)};
    d.extend(event_fields(e, subject));
    d
}

fn event_fields(e: &OutboxEvent, subject: &TransactionSnapshot) -> Document {
    let snapshot = |s: &Option<TransactionSnapshot>| {
        s.as_ref().map_or(Bson::Null, |s| Bson::Document(part(s)))
    };
    doc! {
        "id": uuid(e.id),
        "type": e.kind.as_str(),
        "at": bson_date(e.occurred_at),
        "t": object_id(subject.id.object_id()),
        "u": object_id(subject.user_id.object_id()),
        "d": bson_date(subject.transaction_date),
        "c": bson_date(subject.created_at),
        "ch": e.changed.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        "a": snapshot(&e.after),
        "b": snapshot(&e.before),
    }
}

fn snapshot_from(d: &Document, field: &str) -> Result<Option<TransactionSnapshot>, StoreError> {
    let part = match d.get(field) {
        None | Some(Bson::Null) => return Ok(None),
        Some(Bson::Document(p)) => p,
        Some(_) => return Err(corrupt(field)),
    };
    let oid = |f: &str| {
        d.get_object_id(f)
            .map(|o| ObjectId::from_bytes(o.bytes()))
            .map_err(|_| corrupt(f))
    };
    Ok(Some(TransactionSnapshot {
        id: TransactionId::new(oid("t")?),
        user_id: UserId::new(oid("u")?),
        amount: get_u64(part, "amt")
            .and_then(|c| Amount::from_cents(c).ok())
            .ok_or_else(|| corrupt("amount"))?,
        kind: part
            .get_str("k")
            .ok()
            .and_then(|k| k.parse::<TransactionType>().ok())
            .ok_or_else(|| corrupt("type"))?,
        transaction_date: time(d, "d")?,
        created_at: time(d, "c")?,
        updated_at: time(part, "up")?,
        version: get_u64(part, "v").ok_or_else(|| corrupt("version"))?,
    }))
}

fn event_from(d: &Document) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        sequence: get_u64(d, "_id").ok_or_else(|| corrupt("sequence"))?,
        event: outbox_event(d)?,
    })
}

/// The event a feed or outbox document holds (whatever its `_id`).
fn outbox_event(d: &Document) -> Result<OutboxEvent, StoreError> {
    let id = match d.get("id") {
        Some(Bson::Binary(b)) => <[u8; 16]>::try_from(b.bytes.as_slice()).ok(),
        _ => None,
    }
    .ok_or_else(|| corrupt("id"))?;
    let changed = d
        .get_array("ch")
        .map_err(|_| corrupt("changed"))?
        .iter()
        .map(|f| {
            f.as_str()
                .and_then(ChangedField::parse)
                .ok_or_else(|| corrupt("changed"))
        })
        .collect::<Result<_, _>>()?;
    Ok(OutboxEvent {
        id: EventId::from_bytes(id),
        kind: d
            .get_str("type")
            .ok()
            .and_then(EventKind::parse)
            .ok_or_else(|| corrupt("type"))?,
        occurred_at: time(d, "at")?,
        after: snapshot_from(d, "a")?,
        before: snapshot_from(d, "b")?,
        changed,
    })
}

pub(crate) fn cursor_from(d: &Document) -> Result<PublisherCursor, StoreError> {
    Ok(PublisherCursor {
        delivered_through: get_u64(d, "through").unwrap_or(0),
        attempts: get_u64(d, "attempts")
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        first_failure_at: optional_time(d, "first")?,
        next_attempt_at: optional_time(d, "next")?,
        last_error: d.get_str("error").ok().map(str::to_owned),
    })
}

pub(crate) fn cursor_doc(c: &PublisherCursor) -> Document {
    let t = |t: Option<Timestamp>| t.map_or(Bson::Null, |t| Bson::DateTime(bson_date(t)));
    doc! {
        "through": to_i64(c.delivered_through),
        "attempts": i64::from(c.attempts),
        "first": t(c.first_failure_at),
        "next": t(c.next_attempt_at),
        "error": c.last_error.clone().map_or(Bson::Null, Bson::String),
    }
}

impl MongoStore {
    /// Whether changes write events now (switched on, and transactions available).
    pub(crate) async fn writes_events(&self) -> Result<bool, StoreError> {
        Ok(self.events_on && self.keeps_rollups().await?)
    }

    /// After a commit: wakes a sequencer of this process when the commit wrote an event.
    pub(crate) fn committed(&self, with_event: bool) {
        if with_event {
            self.commits.notify_one();
        }
    }

    /// Appends `event` to the outbox inside `session`'s transaction (numbered later by
    /// the sequencer): one insert of a document of its own, nothing shared.
    pub(crate) async fn append_event(
        &self,
        session: &mut ClientSession,
        event: &OutboxEvent,
    ) -> mongodb::error::Result<()> {
        let Some(subject) = event.subject() else {
            return Ok(());
        };
        self.outbox
            .insert_one(outbox_doc(event, subject))
            .session(&mut *session)
            .await?;
        Ok(())
    }

    /// Writes many events into the outbox inside `session`'s transaction: one command.
    pub(crate) async fn append_events(
        &self,
        session: &mut ClientSession,
        events: &[OutboxEvent],
    ) -> mongodb::error::Result<()> {
        let docs: Vec<Document> = events
            .iter()
            .filter_map(|e| e.subject().map(|subject| outbox_doc(e, subject)))
            .collect();
        if docs.is_empty() {
            return Ok(());
        }
        self.outbox.insert_many(docs).session(&mut *session).await?;
        Ok(())
    }

    /// One sequencer step inside `session`'s transaction (see the module's documentation):
    /// how many events it numbered, or `None` when another sequencer moved the counter
    /// first (the transaction must then be aborted).
    async fn sequence_in(
        &self,
        session: &mut ClientSession,
        limit: u32,
    ) -> mongodb::error::Result<Option<u64>> {
        let counter = self
            .meta
            .find_one(doc! {"_id": COUNTER})
            .session(&mut *session)
            .await?;
        let last = counter
            .as_ref()
            .and_then(|d| get_u64(d, "seq"))
            .unwrap_or(0);
        let mut pending: Vec<Document> = self
            .outbox
            .find(Document::new())
            .sort(doc! {"_id": 1})
            .limit(i64::from(limit))
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_collect()
            .await?;
        if pending.is_empty() {
            return Ok(Some(0));
        }
        if pending.len() == limit as usize {
            // A full batch may have left out an earlier version of a transaction it holds
            // (writers' clocks differ): take those too, so versions are never split.
            let ids: Vec<Bson> = pending.iter().filter_map(|d| d.get("t").cloned()).collect();
            let taken: Vec<Bson> = pending
                .iter()
                .filter_map(|d| d.get("_id").cloned())
                .collect();
            let more: Vec<Document> = self
                .outbox
                .find(doc! {"t": {"$in": ids}, "_id": {"$nin": taken}})
                .session(&mut *session)
                .await?
                .stream(&mut *session)
                .try_collect()
                .await?;
            pending.extend(more);
        }
        let mut parsed = Vec::with_capacity(pending.len());
        for d in pending {
            let event =
                outbox_event(&d).map_err(|e| mongodb::error::Error::custom(e.to_string()))?;
            parsed.push((d, event));
        }
        let ordered = fido_domain::arrange_for_sequencing(parsed, |(_, e)| e);
        let count = ordered.len() as u64;
        let mut taken = Vec::with_capacity(ordered.len());
        let mut numbered = Vec::with_capacity(ordered.len());
        for (n, (mut d, _)) in (last + 1..).zip(ordered) {
            if let Some(id) = d.remove("_id") {
                taken.push(id);
            }
            d.insert("_id", to_i64(n));
            numbered.push(d);
        }
        self.events
            .insert_many(numbered)
            .session(&mut *session)
            .await?;
        self.outbox
            .delete_many(doc! {"_id": {"$in": taken}})
            .session(&mut *session)
            .await?;
        let next = to_i64(last + count);
        let moved = if counter.is_none() {
            // The first event ever: a racing first sequencer collides on the `_id`.
            self.meta
                .insert_one(doc! {"_id": COUNTER, "seq": next, "pruned": 0_i64})
                .session(&mut *session)
                .await?;
            true
        } else {
            self.meta
                .update_one(
                    doc! {"_id": COUNTER, "seq": to_i64(last)},
                    doc! {"$set": {"seq": next}},
                )
                .session(&mut *session)
                .await?
                .matched_count
                == 1
        };
        Ok(moved.then_some(count))
    }

    /// How many events wait for a number (capped), and when the oldest happened.
    async fn unsequenced(&self) -> Result<(u64, Option<Timestamp>), StoreError> {
        let oldest = self
            .bounded(self.outbox.find_one(Document::new()).sort(doc! {"_id": 1}))
            .await?;
        let Some(oldest) = oldest else {
            return Ok((0, None));
        };
        let count = self
            .bounded(
                self.outbox
                    .count_documents(Document::new())
                    .limit(COUNT_CAP),
            )
            .await?;
        Ok((count.max(1), Some(time(&oldest, "at")?)))
    }

    async fn marks(&self) -> Result<(u64, u64), StoreError> {
        let counter = self
            .bounded(self.meta.find_one(doc! {"_id": COUNTER}))
            .await?;
        Ok(counter.map_or((0, 0), |d| {
            (
                get_u64(&d, "seq").unwrap_or(0),
                get_u64(&d, "pruned").unwrap_or(0),
            )
        }))
    }

    async fn lowest_cursor(&self, publishers: &[String]) -> Result<Option<u64>, StoreError> {
        if publishers.is_empty() {
            return Ok(None);
        }
        let docs: Vec<Document> = self
            .bounded(async {
                self.cursors
                    .find(doc! {"_id": {"$in": publishers}})
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        // A publisher without a cursor is at 0.
        if docs.len() < publishers.len() {
            return Ok(Some(0));
        }
        Ok(docs
            .iter()
            .map(|d| get_u64(d, "through").unwrap_or(0))
            .min())
    }
}

#[async_trait]
impl EventLog for MongoStore {
    fn enabled(&self) -> bool {
        self.events_on && self.transactions_possible()
    }

    async fn events_after(&self, after: u64, limit: u32) -> Result<EventPage, StoreError> {
        // The marks first: an event committed between the two reads is then below
        // `last_sequence` or simply on the next page, never hidden.
        let (last_sequence, pruned_through) = self.marks().await?;
        let docs: Vec<Document> = self
            .find_sorted(
                &self.events,
                doc! {"_id": {"$gt": to_i64(after)}},
                doc! {"_id": 1},
                Some(limit),
            )
            .await?;
        Ok(EventPage {
            events: docs.iter().map(event_from).collect::<Result<_, _>>()?,
            pruned_through,
            last_sequence,
        })
    }

    async fn sequence(&self, limit: u32) -> Result<u64, StoreError> {
        if !self.enabled() {
            return Ok(0);
        }
        let limit = limit.clamp(1, SEQUENCE_STEP);
        // An empty outbox (the usual case between commits) costs one indexed read, no
        // transaction.
        let waiting = self
            .bounded(
                self.outbox
                    .find_one(Document::new())
                    .projection(doc! {"_id": 1}),
            )
            .await?;
        if waiting.is_none() {
            return Ok(0);
        }
        let store = self.clone();
        let numbered = self
            .transaction(move |session| {
                let store = store.clone();
                Box::pin(async move {
                    // `None`: another sequencer numbered events meanwhile; abort.
                    store
                        .sequence_in(session, limit)
                        .await?
                        .ok_or_else(|| mongodb::error::Error::custom(LOST_RACE))
                })
            })
            .await;
        match numbered {
            Ok(n) => Ok(n),
            Err(StoreError::Duplicate) => Ok(0),
            Err(StoreError::Internal(m)) if m.contains(LOST_RACE) => Ok(0),
            Err(e) => Err(e),
        }
    }

    async fn cursor(&self, publisher: &str) -> Result<PublisherCursor, StoreError> {
        self.bounded(self.cursors.find_one(doc! {"_id": publisher}))
            .await?
            .map_or(Ok(PublisherCursor::default()), |d| cursor_from(&d))
    }

    async fn save_cursor(&self, save: CursorSave) -> Result<bool, StoreError> {
        let CursorSave {
            publisher,
            lease,
            holder,
            expected,
            new,
            failed,
        } = save;
        let (publisher, lease, holder) = (publisher.as_str(), lease.as_str(), holder.as_str());
        let holds = self
            .bounded(
                self.leases
                    .count_documents(doc! {"_id": lease, "holder": holder}),
            )
            .await?
            == 1;
        if !holds {
            return Ok(false);
        }
        if let Some(f) = &failed {
            let key = doc! {"p": &f.publisher, "s": to_i64(f.sequence)};
            self.bounded(
                self.failures
                    .replace_one(
                        doc! {"_id": key.clone()},
                        doc! {
                            "_id": key,
                            "attempts": i64::from(f.attempts),
                            "failed_at": bson_date(f.failed_at),
                            "error": &f.last_error,
                        },
                    )
                    .upsert(true),
            )
            .await?;
        }
        // Compare-and-set on the whole cursor; a missing cursor is the default one.
        let mut filter = cursor_doc(&expected);
        filter.insert("_id", publisher);
        let mut replacement = cursor_doc(&new);
        replacement.insert("_id", publisher);
        if expected == PublisherCursor::default() {
            let exists = self
                .bounded(self.cursors.count_documents(doc! {"_id": publisher}))
                .await?
                > 0;
            if !exists {
                return match self.bounded(self.cursors.insert_one(replacement)).await {
                    Ok(_) => Ok(true),
                    Err(StoreError::Duplicate) => Ok(false),
                    Err(e) => Err(e),
                };
            }
        }
        let result = self
            .bounded(self.cursors.replace_one(filter, replacement))
            .await?;
        Ok(result.matched_count == 1)
    }

    async fn failed_deliveries(
        &self,
        publisher: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<FailedDelivery>, StoreError> {
        let docs: Vec<Document> = self
            .find_sorted(
                &self.failures,
                doc! {"_id.p": publisher, "_id.s": {"$gt": to_i64(after)}},
                doc! {"_id.s": 1},
                Some(limit),
            )
            .await?;
        docs.iter()
            .map(|d| {
                let key = d.get_document("_id").map_err(|_| corrupt("failure key"))?;
                Ok(FailedDelivery {
                    publisher: key
                        .get_str("p")
                        .map_err(|_| corrupt("publisher"))?
                        .to_owned(),
                    sequence: get_u64(key, "s").ok_or_else(|| corrupt("sequence"))?,
                    attempts: get_u64(d, "attempts")
                        .and_then(|n| u32::try_from(n).ok())
                        .unwrap_or(0),
                    failed_at: time(d, "failed_at")?,
                    last_error: d.get_str("error").unwrap_or_default().to_owned(),
                })
            })
            .collect()
    }

    async fn acquire_lease(
        &self,
        lease: &str,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let until = now.plus_millis(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        // Ours, or expired: take it. Someone else's and valid: the upsert's insert
        // collides with the existing `_id`, which says so.
        let filter = doc! {
            "_id": lease,
            "$or": [{"holder": holder}, {"until": {"$lte": bson_date(now)}}],
        };
        let update = doc! {"$set": {"holder": holder, "until": bson_date(until)}};
        match self
            .bounded(self.leases.update_one(filter, update).upsert(true))
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::Duplicate) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn release_lease(&self, lease: &str, holder: &str) -> Result<(), StoreError> {
        self.bounded(
            self.leases
                .delete_one(doc! {"_id": lease, "holder": holder}),
        )
        .await
        .map(drop)
    }

    async fn prune(&self, before: Timestamp, publishers: &[String]) -> Result<u64, StoreError> {
        let (last, already) = self.marks().await?;
        let first_young = self
            .bounded(
                self.events
                    .find_one(
                        doc! {"_id": {"$gt": to_i64(already)}, "at": {"$gte": bson_date(before)}},
                    )
                    .sort(doc! {"_id": 1}),
            )
            .await?
            .and_then(|d| get_u64(&d, "_id"));
        let lowest = self.lowest_cursor(publishers).await?;
        let Some(limit) = prune_through(already, last, first_young, lowest) else {
            return Ok(0);
        };
        // The mark first: a reader then never sees a hole without being told.
        self.bounded(self.meta.update_one(
            doc! {"_id": COUNTER, "pruned": {"$not": {"$gte": to_i64(limit)}}},
            doc! {"$set": {"pruned": to_i64(limit)}},
        ))
        .await?;
        let removed = self
            .bounded(
                self.events
                    .delete_many(doc! {"_id": {"$lte": to_i64(limit)}}),
            )
            .await?;
        Ok(removed.deleted_count)
    }

    async fn backlog(&self, publishers: &[String]) -> Result<Backlog, StoreError> {
        let (last, _) = self.marks().await?;
        let (unsequenced, oldest_unsequenced_at) = self.unsequenced().await?;
        let waiting = Backlog {
            last_sequence: last,
            unsequenced,
            oldest_unsequenced_at,
            ..Backlog::default()
        };
        let Some(lowest) = self.lowest_cursor(publishers).await? else {
            return Ok(waiting);
        };
        let oldest = self
            .bounded(
                self.events
                    .find_one(doc! {"_id": {"$gt": to_i64(lowest)}})
                    .sort(doc! {"_id": 1}),
            )
            .await?
            .map(|d| time(&d, "at"))
            .transpose()?;
        Ok(Backlog {
            undelivered: last.saturating_sub(lowest),
            oldest_undelivered_at: oldest,
            ..waiting
        })
    }
}
