//! The [`TransactionStore`] port: rows, their roll-ups (triggers) and their events, in
//! one transaction each.

use async_trait::async_trait;
use fido_domain::{
    Actor, EncryptedName, HistoryEntry, ListFilter, ListQuery, OutboxEvent, Page, Position,
    RecordPatch, StoreError, Timestamp, TransactionId, TransactionRecord, TransactionStore,
    TransactionType, UserId, Window, Written,
};
use rusqlite::{named_params, Connection, OptionalExtension};

use crate::history::{self, OnKept};
use crate::rows::{
    cents_param, object_id, read_record, version_param, write_record, OnTaken, COLUMNS,
};
use crate::{events, listing, SqliteStore};

/// A conditional write that touched no row: tells a missing record from a stale version.
/// Runs on the writer connection, so nothing can change in between.
pub(crate) fn outcome(
    conn: &Connection,
    id: TransactionId,
    written: Option<TransactionRecord>,
) -> rusqlite::Result<Written> {
    if let Some(record) = written {
        return Ok(Written::Done(record));
    }
    let exists = conn
        .prepare_cached("SELECT 1 FROM transactions WHERE id = ?1")?
        .query_row([id.object_id().bytes()], |_| Ok(()))
        .optional()?
        .is_some();
    Ok(if exists {
        Written::VersionMismatch
    } else {
        Written::NotFound
    })
}

#[async_trait]
impl TransactionStore for SqliteStore {
    async fn insert(&self, r: TransactionRecord, actor: Actor) -> Result<(), StoreError> {
        let with_event = self.events;
        self.writer
            .run(move |conn| {
                write_record(conn, OnTaken::Refuse, &r)?;
                if with_event {
                    events::append(conn, &OutboxEvent::created(&r))?;
                }
                history::append_created(conn, &HistoryEntry::created(&r, actor))?;
                Ok(())
            })
            .await
    }

    async fn get(&self, id: TransactionId) -> Result<Option<TransactionRecord>, StoreError> {
        self.readers
            .run(move |conn| {
                conn.prepare_cached(&format!("SELECT {COLUMNS} FROM transactions WHERE id = ?1"))?
                    .query_row([id.object_id().bytes()], read_record)
                    .optional()
            })
            .await
    }

    async fn update(&self, id: TransactionId, patch: RecordPatch) -> Result<Written, StoreError> {
        let with_event = self.events;
        self.writer
            .run(move |conn| {
                // The record as it was, for the event and the history (same
                // transaction: nothing moves).
                let before = conn
                    .prepare_cached(&format!("SELECT {COLUMNS} FROM transactions WHERE id = ?1"))?
                    .query_row([id.object_id().bytes()], read_record)
                    .optional()?;
                let updated = conn
                    .prepare_cached(&format!(
                        "UPDATE transactions SET \
                           full_name = coalesce(:full_name, full_name), \
                           amount_cents = coalesce(:amount, amount_cents), \
                           kind = coalesce(:kind, kind), \
                           updated_at = :updated, \
                           version = version + 1 \
                         WHERE id = :id AND (:expected IS NULL OR version = :expected) \
                         RETURNING {COLUMNS}"
                    ))?
                    .query_row(
                        named_params! {
                            ":id": id.object_id().bytes(),
                            ":full_name": patch.full_name.as_ref().map(EncryptedName::as_str),
                            ":amount": patch.amount.map(cents_param),
                            ":kind": patch.kind.map(TransactionType::as_str),
                            ":updated": patch.updated_at.as_millis(),
                            ":expected": patch.expected_version.map(version_param),
                        },
                        read_record,
                    )
                    .optional()?;
                if let (Some(before), Some(after)) = (&before, &updated) {
                    if with_event {
                        events::append(conn, &OutboxEvent::updated(before, after))?;
                    }
                    let entry = HistoryEntry::updated(before, after, patch.actor.clone());
                    history::append(conn, &entry, OnKept::Replace)?;
                }
                outcome(conn, id, updated)
            })
            .await
    }

    async fn delete(
        &self,
        id: TransactionId,
        expected_version: Option<u64>,
        deleted_at: Timestamp,
        actor: Actor,
    ) -> Result<Written, StoreError> {
        let with_event = self.events;
        self.writer
            .run(move |conn| {
                let deleted = conn
                    .prepare_cached(&format!(
                        "DELETE FROM transactions \
                         WHERE id = ?1 AND (?2 IS NULL OR version = ?2) RETURNING {COLUMNS}"
                    ))?
                    .query_row(
                        rusqlite::params![
                            id.object_id().bytes(),
                            expected_version.map(version_param)
                        ],
                        read_record,
                    )
                    .optional()?;
                if let Some(gone) = &deleted {
                    if with_event {
                        events::append(conn, &OutboxEvent::deleted(gone, deleted_at))?;
                    }
                    let entry = HistoryEntry::deleted(gone, deleted_at, actor.clone());
                    history::append(conn, &entry, OnKept::Replace)?;
                }
                outcome(conn, id, deleted)
            })
            .await
    }

    async fn list_by_user(
        &self,
        user: UserId,
        query: ListQuery,
    ) -> Result<Page<TransactionRecord>, StoreError> {
        self.readers
            .run(move |conn| {
                // One read transaction, so the count and the page agree.
                let tx = conn.transaction()?;
                let (after, offset) = match query.window {
                    Window::Page(page) => (None, page.offset()),
                    Window::After { after, .. } => (after, 0),
                };
                let matching = listing::Clause::new(user, &query.filter);
                let total = matching.count(&tx)?;
                // One row more than asked: it tells whether a next page exists.
                let rows =
                    matching.rows(&tx, after, u64::from(query.window.limit()) + 1, offset)?;
                tx.commit()?;
                Ok(Page::of_rows(user, &query, total, rows))
            })
            .await
    }

    async fn scan_by_user(
        &self,
        user: UserId,
        filter: ListFilter,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        self.readers
            .run(move |conn| {
                listing::Clause::new(user, &filter).rows(conn, after, u64::from(limit), 0)
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.readers
            .run(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    async fn names_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<(TransactionId, EncryptedName)>, StoreError> {
        self.readers
            .run(move |conn| {
                // The all-zero id sorts before every real one.
                let from = after.map_or([0u8; 12], |id| id.object_id().bytes());
                let inclusive = after.is_none();
                conn.prepare_cached(
                    "SELECT id, full_name FROM transactions \
                     WHERE id > ?1 OR (?2 AND id = ?1) ORDER BY id LIMIT ?3",
                )?
                .query_map(
                    rusqlite::params![from, inclusive, i64::from(limit)],
                    |row| {
                        Ok((
                            TransactionId::new(object_id(row.get(0)?)?),
                            EncryptedName::new(row.get::<_, String>(1)?),
                        ))
                    },
                )?
                .collect()
            })
            .await
    }

    async fn replace_name(
        &self,
        id: TransactionId,
        expected: EncryptedName,
        new: EncryptedName,
    ) -> Result<bool, StoreError> {
        self.writer
            .run(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE transactions SET full_name = ?3 WHERE id = ?1 AND full_name = ?2",
                    )?
                    .execute(rusqlite::params![
                        id.object_id().bytes(),
                        expected.as_str(),
                        new.as_str()
                    ])?;
                Ok(changed == 1)
            })
            .await
    }
}
