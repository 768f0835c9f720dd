//! The outbox: events written with each change, and the [`EventLog`] port over them.

use std::time::Duration;

use async_trait::async_trait;
use fido_domain::{
    prune_through, Amount, Backlog, ChangedField, CursorSave, EventId, EventKind, EventLog,
    EventPage, FailedDelivery, OutboxEvent, PublisherCursor, StoreError, StoredEvent, Timestamp,
    TransactionId, TransactionSnapshot, TransactionType, UserId,
};
use rusqlite::{named_params, Connection, OptionalExtension, Row};

use crate::errors::conversion;
use crate::rows::{cents_param, object_id, timestamp, version_param};
use crate::SqliteStore;

/// Appends `event` to the outbox, on the writer connection inside the change's transaction.
pub(crate) fn append(conn: &Connection, event: &OutboxEvent) -> rusqlite::Result<()> {
    insert(conn, None, event)
}

/// Writes a copied event with its sequence, keeping one already there (`fido copy`).
pub(crate) fn append_with_sequence(
    conn: &Connection,
    stored: &StoredEvent,
) -> rusqlite::Result<()> {
    insert(conn, Some(stored.sequence), &stored.event)
}

fn insert(conn: &Connection, sequence: Option<u64>, event: &OutboxEvent) -> rusqlite::Result<()> {
    let Some(subject) = event.subject() else {
        return Ok(());
    };
    let changed: Vec<&str> = event.changed.iter().map(|f| f.as_str()).collect();
    let part = |s: Option<&TransactionSnapshot>| {
        (
            s.map(|s| cents_param(s.amount)),
            s.map(|s| s.kind.as_str()),
            s.map(|s| s.updated_at.as_millis()),
            s.map(|s| version_param(s.version)),
        )
    };
    let (a_amount, a_kind, a_updated, a_version) = part(event.after.as_ref());
    let (b_amount, b_kind, b_updated, b_version) = part(event.before.as_ref());
    // Without a sequence, AUTOINCREMENT gives the next one.
    conn.prepare_cached(
        "INSERT OR IGNORE INTO events (sequence, id, kind, occurred_at, transaction_id, user_id,
           transaction_date, created_at, changed, after_amount, after_kind, after_updated,
           after_version, before_amount, before_kind, before_updated, before_version)
         VALUES (:seq, :id, :kind, :at, :tx, :user, :date, :created, :changed, :a_amount,
           :a_kind, :a_updated, :a_version, :b_amount, :b_kind, :b_updated, :b_version)",
    )?
    .execute(named_params! {
        ":seq": sequence.map(seq_param),
        ":id": event.id.bytes(),
        ":kind": event.kind.as_str(),
        ":at": event.occurred_at.as_millis(),
        ":tx": subject.id.object_id().bytes(),
        ":user": subject.user_id.object_id().bytes(),
        ":date": subject.transaction_date.as_millis(),
        ":created": subject.created_at.as_millis(),
        ":changed": changed.join(","),
        ":a_amount": a_amount, ":a_kind": a_kind, ":a_updated": a_updated, ":a_version": a_version,
        ":b_amount": b_amount, ":b_kind": b_kind, ":b_updated": b_updated, ":b_version": b_version,
    })?;
    Ok(())
}

const EVENT_COLUMNS: &str = "sequence, id, kind, occurred_at, transaction_id, user_id, \
    transaction_date, created_at, changed, after_amount, after_kind, after_updated, \
    after_version, before_amount, before_kind, before_updated, before_version";

fn snapshot(row: &Row<'_>, first: usize) -> rusqlite::Result<Option<TransactionSnapshot>> {
    let Some(cents) = row.get::<_, Option<i64>>(first)? else {
        return Ok(None);
    };
    let kind: String = row.get(first + 1)?;
    Ok(Some(TransactionSnapshot {
        id: TransactionId::new(object_id(row.get(4)?)?),
        user_id: UserId::new(object_id(row.get(5)?)?),
        amount: u64::try_from(cents)
            .ok()
            .and_then(|c| Amount::from_cents(c).ok())
            .ok_or_else(|| conversion(first, "event amount"))?,
        kind: kind
            .parse::<TransactionType>()
            .map_err(|_| conversion(first + 1, "event transaction type"))?,
        transaction_date: timestamp(row, 6)?,
        created_at: timestamp(row, 7)?,
        updated_at: timestamp(row, first + 2)?,
        version: u64::try_from(row.get::<_, i64>(first + 3)?)
            .map_err(|_| conversion(first + 3, "event version"))?,
    }))
}

fn read_event(row: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let id: Vec<u8> = row.get(1)?;
    let id: [u8; 16] = id.try_into().map_err(|_| conversion(1, "event id"))?;
    let kind: String = row.get(2)?;
    let changed: String = row.get(8)?;
    Ok(StoredEvent {
        sequence: u64::try_from(row.get::<_, i64>(0)?).map_err(|_| conversion(0, "sequence"))?,
        event: OutboxEvent {
            id: EventId::from_bytes(id),
            kind: EventKind::parse(&kind).ok_or_else(|| conversion(2, "event type"))?,
            occurred_at: timestamp(row, 3)?,
            after: snapshot(row, 9)?,
            before: snapshot(row, 13)?,
            changed: changed
                .split(',')
                .filter(|f| !f.is_empty())
                .map(|f| ChangedField::parse(f).ok_or_else(|| conversion(8, "changed field")))
                .collect::<Result<_, _>>()?,
        },
    })
}

pub(crate) fn seq_param(sequence: u64) -> i64 {
    i64::try_from(sequence).unwrap_or(i64::MAX)
}

fn seq(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn pruned_through(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT value FROM event_meta WHERE key = 'pruned_through'")?
        .query_row([], |r| r.get::<_, i64>(0))
        .optional()
        .map(|v| seq(v.unwrap_or(0)))
}

fn last_sequence(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'events'")?
        .query_row([], |r| r.get::<_, i64>(0))
        .optional()
        .map(|v| seq(v.unwrap_or(0)))
}

/// The lowest cursor among `publishers` (a publisher without a cursor is at 0); `None`
/// when the list is empty.
fn lowest_cursor(conn: &Connection, publishers: &[String]) -> rusqlite::Result<Option<u64>> {
    let mut lowest: Option<u64> = None;
    let mut stmt =
        conn.prepare_cached("SELECT delivered_through FROM event_cursors WHERE publisher = ?1")?;
    for name in publishers {
        let at = stmt
            .query_row([name], |r| r.get::<_, i64>(0))
            .optional()?
            .map_or(0, seq);
        lowest = Some(lowest.map_or(at, |l| l.min(at)));
    }
    Ok(lowest)
}

/// A cursor whose five columns start at `first`.
pub(crate) fn read_cursor(row: &Row<'_>, first: usize) -> rusqlite::Result<PublisherCursor> {
    let optional_time = |i: usize| -> rusqlite::Result<Option<Timestamp>> {
        row.get::<_, Option<i64>>(i)?
            .map(|ms| Timestamp::from_millis(ms).map_err(|_| conversion(i, "timestamp")))
            .transpose()
    };
    Ok(PublisherCursor {
        delivered_through: seq(row.get(first)?),
        attempts: u32::try_from(row.get::<_, i64>(first + 1)?).unwrap_or(u32::MAX),
        first_failure_at: optional_time(first + 2)?,
        next_attempt_at: optional_time(first + 3)?,
        last_error: row.get(first + 4)?,
    })
}

#[async_trait]
impl EventLog for SqliteStore {
    fn enabled(&self) -> bool {
        self.events
    }

    async fn events_after(&self, after: u64, limit: u32) -> Result<EventPage, StoreError> {
        self.readers
            .run(move |conn| {
                // One read transaction: the page and the marks agree.
                let tx = conn.transaction()?;
                let events = tx
                    .prepare_cached(&format!(
                        "SELECT {EVENT_COLUMNS} FROM events WHERE sequence > ?1 \
                         ORDER BY sequence LIMIT ?2"
                    ))?
                    .query_map(rusqlite::params![seq_param(after), limit], read_event)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let page = EventPage {
                    events,
                    pruned_through: pruned_through(&tx)?,
                    last_sequence: last_sequence(&tx)?,
                };
                tx.finish()?;
                Ok(page)
            })
            .await
    }

    async fn cursor(&self, publisher: &str) -> Result<PublisherCursor, StoreError> {
        let publisher = publisher.to_owned();
        self.readers
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT delivered_through, attempts, first_failure_at, next_attempt_at, \
                     last_error FROM event_cursors WHERE publisher = ?1",
                )?
                .query_row([publisher], |r| read_cursor(r, 0))
                .optional()
                .map(Option::unwrap_or_default)
            })
            .await
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
        self.writer
            .run(move |conn| {
                let holds = conn
                    .prepare_cached("SELECT 1 FROM leases WHERE name = ?1 AND holder = ?2")?
                    .query_row([&lease, &holder], |_| Ok(()))
                    .optional()?
                    .is_some();
                if !holds {
                    return Ok(false);
                }
                let current = conn
                    .prepare_cached(
                        "SELECT delivered_through, attempts, first_failure_at, \
                         next_attempt_at, last_error FROM event_cursors WHERE publisher = ?1",
                    )?
                    .query_row([&publisher], |r| read_cursor(r, 0))
                    .optional()?
                    .unwrap_or_default();
                if current != expected {
                    return Ok(false);
                }
                conn.prepare_cached(
                    "INSERT INTO event_cursors (publisher, delivered_through, attempts,
                       first_failure_at, next_attempt_at, last_error)
                     VALUES (:p, :through, :attempts, :first, :next, :error)
                     ON CONFLICT (publisher) DO UPDATE SET
                       delivered_through = excluded.delivered_through,
                       attempts = excluded.attempts,
                       first_failure_at = excluded.first_failure_at,
                       next_attempt_at = excluded.next_attempt_at,
                       last_error = excluded.last_error",
                )?
                .execute(named_params! {
                    ":p": publisher,
                    ":through": seq_param(new.delivered_through),
                    ":attempts": i64::from(new.attempts),
                    ":first": new.first_failure_at.map(Timestamp::as_millis),
                    ":next": new.next_attempt_at.map(Timestamp::as_millis),
                    ":error": new.last_error,
                })?;
                if let Some(f) = failed {
                    conn.prepare_cached(
                        "INSERT OR REPLACE INTO event_failures \
                         (publisher, sequence, attempts, failed_at, last_error) \
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(rusqlite::params![
                        f.publisher,
                        seq_param(f.sequence),
                        i64::from(f.attempts),
                        f.failed_at.as_millis(),
                        f.last_error
                    ])?;
                }
                Ok(true)
            })
            .await
    }

    async fn failed_deliveries(
        &self,
        publisher: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<FailedDelivery>, StoreError> {
        let publisher = publisher.to_owned();
        self.readers
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT publisher, sequence, attempts, failed_at, last_error \
                     FROM event_failures WHERE publisher = ?1 AND sequence > ?2 \
                     ORDER BY sequence LIMIT ?3",
                )?
                .query_map(rusqlite::params![publisher, seq_param(after), limit], |r| {
                    Ok(FailedDelivery {
                        publisher: r.get(0)?,
                        sequence: seq(r.get(1)?),
                        attempts: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(u32::MAX),
                        failed_at: timestamp(r, 3)?,
                        last_error: r.get(4)?,
                    })
                })?
                .collect()
            })
            .await
    }

    async fn acquire_lease(
        &self,
        lease: &str,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (lease, holder) = (lease.to_owned(), holder.to_owned());
        let until = now.plus_millis(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO leases (name, holder, expires_at) VALUES (:name, :holder, :until)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                       expires_at = excluded.expires_at
                     WHERE leases.holder = excluded.holder OR leases.expires_at <= :now",
                )?
                .execute(named_params! {
                    ":name": lease,
                    ":holder": holder,
                    ":until": until.as_millis(),
                    ":now": now.as_millis(),
                })?;
                let current: String = conn
                    .prepare_cached("SELECT holder FROM leases WHERE name = ?1")?
                    .query_row([&lease], |r| r.get(0))?;
                Ok(current == holder)
            })
            .await
    }

    async fn release_lease(&self, lease: &str, holder: &str) -> Result<(), StoreError> {
        let (lease, holder) = (lease.to_owned(), holder.to_owned());
        self.writer
            .run(move |conn| {
                conn.prepare_cached("DELETE FROM leases WHERE name = ?1 AND holder = ?2")?
                    .execute([lease, holder])
                    .map(drop)
            })
            .await
    }

    async fn prune(&self, before: Timestamp, publishers: &[String]) -> Result<u64, StoreError> {
        let publishers = publishers.to_vec();
        self.writer
            .run(move |conn| {
                let already = pruned_through(conn)?;
                // Everything up to the first event young enough to keep...
                let first_young: Option<i64> = conn
                    .prepare_cached(
                        "SELECT sequence FROM events WHERE sequence > ?1 AND occurred_at >= ?2 \
                         ORDER BY sequence LIMIT 1",
                    )?
                    .query_row(
                        rusqlite::params![seq_param(already), before.as_millis()],
                        |r| r.get(0),
                    )
                    .optional()?;
                // ...that every publisher has passed, a bounded step at a time (the
                // domain's rule).
                let Some(limit) = prune_through(
                    already,
                    last_sequence(conn)?,
                    first_young.map(seq),
                    lowest_cursor(conn, &publishers)?,
                ) else {
                    return Ok(0);
                };
                let removed = conn
                    .prepare_cached("DELETE FROM events WHERE sequence <= ?1")?
                    .execute([seq_param(limit)])?;
                conn.prepare_cached(
                    "UPDATE event_meta SET value = ?1 WHERE key = 'pruned_through'",
                )?
                .execute([seq_param(limit)])?;
                Ok(removed as u64)
            })
            .await
    }

    async fn backlog(&self, publishers: &[String]) -> Result<Backlog, StoreError> {
        let publishers = publishers.to_vec();
        self.readers
            .run(move |conn| {
                let tx = conn.transaction()?;
                let last = last_sequence(&tx)?;
                let Some(lowest) = lowest_cursor(&tx, &publishers)? else {
                    return Ok(Backlog {
                        last_sequence: last,
                        ..Backlog::default()
                    });
                };
                // Sequences above every cursor are all still there (retention stops at the
                // lowest cursor) and have no gaps, so the count is a subtraction.
                let oldest: Option<i64> = tx
                    .prepare_cached(
                        "SELECT occurred_at FROM events WHERE sequence > ?1 \
                         ORDER BY sequence LIMIT 1",
                    )?
                    .query_row([seq_param(lowest)], |r| r.get(0))
                    .optional()?;
                Ok(Backlog {
                    undelivered: last.saturating_sub(lowest),
                    oldest_undelivered_at: oldest.and_then(|ms| Timestamp::from_millis(ms).ok()),
                    last_sequence: last,
                    ..Backlog::default()
                })
            })
            .await
    }
}
