//! The [`StoreTransfer`] port: the whole contents in key order, and written back as they
//! were (the daily roll-ups follow through the triggers).

use async_trait::async_trait;
use fido_domain::{
    Actor, HistoryEntry, IdempotencyRecord, ImportCounts, ImportStep, PublisherCursor, StoreError,
    StoreTransfer, StoredEvent, TransactionId, TransactionRecord,
};
use rusqlite::{params, OptionalExtension};

use crate::events::{append_with_sequence, read_cursor, seq_param};
use crate::history::{self, OnKept};
use crate::rows::{object_id, read_record, timestamp, write_record, OnTaken, COLUMNS};
use crate::SqliteStore;

#[async_trait]
impl StoreTransfer for SqliteStore {
    async fn records_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        self.readers
            .run(move |conn| {
                let after = after
                    .map(|id| id.object_id().bytes().to_vec())
                    .unwrap_or_default();
                conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM transactions WHERE id > ?1 ORDER BY id LIMIT ?2"
                ))?
                .query_map(params![after, limit], read_record)?
                .collect()
            })
            .await
    }

    async fn put_records(&self, records: Vec<TransactionRecord>) -> Result<(), StoreError> {
        self.writer
            .run(move |conn| {
                // A taken id is updated in place, through the update trigger: the
                // roll-ups equal the rows at every commit, however often a batch is
                // written again (an interrupted import run again).
                for r in &records {
                    write_record(conn, OnTaken::Update, r)?;
                }
                Ok(())
            })
            .await
    }

    async fn remove_records(&self, ids: Vec<TransactionId>) -> Result<(), StoreError> {
        self.writer
            .run(move |conn| {
                // Through the delete trigger: the roll-ups follow in the same commit.
                let mut delete = conn.prepare_cached("DELETE FROM transactions WHERE id = ?1")?;
                for id in &ids {
                    delete.execute([id.object_id().bytes()])?;
                }
                Ok(())
            })
            .await
    }

    async fn import_records(
        &self,
        records: Vec<TransactionRecord>,
        actor: Actor,
    ) -> Result<ImportCounts, StoreError> {
        let with_events = self.events;
        self.writer
            .run(move |conn| {
                // One writer, one transaction per batch: each row with its roll-ups (the
                // triggers) and its event, as the API's writes do.
                let mut counts = ImportCounts::default();
                for r in &records {
                    let held = conn
                        .prepare_cached(&format!(
                            "SELECT {COLUMNS} FROM transactions WHERE id = ?1"
                        ))?
                        .query_row([r.id.object_id().bytes()], read_record)
                        .optional()?;
                    let step = ImportStep::of(held.as_ref(), r);
                    counts.count(&step);
                    let (Some(event), Some(entry)) = (step.event(r), step.history(r, &actor))
                    else {
                        continue;
                    };
                    write_record(conn, OnTaken::Update, r)?;
                    if with_events {
                        crate::events::append(conn, &event)?;
                    }
                    history::append(conn, &entry, OnKept::Keep)?;
                }
                Ok(counts)
            })
            .await
    }

    async fn history_after(
        &self,
        after: Option<(TransactionId, u64)>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.readers
            .run(move |conn| history::entries_after(conn, after, limit))
            .await
    }

    async fn put_history(&self, entries: Vec<HistoryEntry>) -> Result<(), StoreError> {
        self.writer
            .run(move |conn| {
                for entry in &entries {
                    history::append(conn, entry, OnKept::Replace)?;
                }
                Ok(())
            })
            .await
    }

    async fn idempotency_after(
        &self,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<IdempotencyRecord>, StoreError> {
        self.readers
            .run(move |conn| {
                let (scope, key) = after.unwrap_or_default();
                conn.prepare_cached(
                    "SELECT scope, key, fingerprint, transaction_id, snapshot, lease_until, expires_at \
                     FROM idempotency_keys WHERE (scope, key) > (?1, ?2) ORDER BY scope, key LIMIT ?3",
                )?
                .query_map(params![scope, key, limit], |r| {
                    Ok(IdempotencyRecord {
                        scope: r.get(0)?,
                        key: r.get(1)?,
                        fingerprint: r.get(2)?,
                        transaction_id: TransactionId::new(object_id(r.get(3)?)?),
                        snapshot: r.get(4)?,
                        lease_until: timestamp(r, 5)?,
                        expires_at: timestamp(r, 6)?,
                    })
                })?
                .collect()
            })
            .await
    }

    async fn put_idempotency(&self, records: Vec<IdempotencyRecord>) -> Result<(), StoreError> {
        self.writer
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "INSERT OR REPLACE INTO idempotency_keys \
                     (scope, key, fingerprint, transaction_id, snapshot, lease_until, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for r in &records {
                    stmt.execute(params![
                        r.scope,
                        r.key,
                        r.fingerprint,
                        r.transaction_id.object_id().bytes(),
                        r.snapshot,
                        r.lease_until.as_millis(),
                        r.expires_at.as_millis()
                    ])?;
                }
                Ok(())
            })
            .await
    }

    async fn put_events(
        &self,
        events: Vec<StoredEvent>,
        last_sequence: u64,
        pruned_through: u64,
    ) -> Result<(), StoreError> {
        self.writer
            .run(move |conn| {
                for event in &events {
                    append_with_sequence(conn, event)?;
                }
                // AUTOINCREMENT continues after the highest sequence ever used.
                let current: Option<i64> = conn
                    .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'events'")?
                    .query_row([], |r| r.get(0))
                    .optional()?;
                let target = seq_param(last_sequence);
                match current {
                    Some(seq) if seq >= target => {}
                    Some(_) => {
                        conn.execute(
                            "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'events'",
                            [target],
                        )?;
                    }
                    None => {
                        conn.execute(
                            "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?1)",
                            [target],
                        )?;
                    }
                }
                conn.execute(
                    "UPDATE event_meta SET value = max(value, ?1) WHERE key = 'pruned_through'",
                    [seq_param(pruned_through)],
                )?;
                Ok(())
            })
            .await
    }

    async fn cursors(&self) -> Result<Vec<(String, PublisherCursor)>, StoreError> {
        self.readers
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT publisher, delivered_through, attempts, first_failure_at, \
                     next_attempt_at, last_error FROM event_cursors ORDER BY publisher",
                )?
                .query_map([], |r| {
                    let name: String = r.get(0)?;
                    Ok((name, read_cursor(r, 1)?))
                })?
                .collect()
            })
            .await
    }

    async fn put_cursors(&self, cursors: Vec<(String, PublisherCursor)>) -> Result<(), StoreError> {
        self.writer
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "INSERT OR REPLACE INTO event_cursors (publisher, delivered_through, attempts, \
                     first_failure_at, next_attempt_at, last_error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for (name, c) in &cursors {
                    stmt.execute(params![
                        name,
                        seq_param(c.delivered_through),
                        i64::from(c.attempts),
                        c.first_failure_at.map(fido_domain::Timestamp::as_millis),
                        c.next_attempt_at.map(fido_domain::Timestamp::as_millis),
                        c.last_error
                    ])?;
                }
                Ok(())
            })
            .await
    }
}
