//! The [`HistoryLog`] port on the `history` table: one row per version, written by the
//! change's own transaction (see `transactions.rs`), kept after the record is deleted.

use async_trait::async_trait;
use fido_domain::{
    Actor, HistoryAction, HistoryEntry, HistoryLog, StoreError, Timestamp, TransactionId, UserId,
};
use rusqlite::{named_params, params, Connection, Row};

use crate::rows::{object_id, timestamp, version_param};
use crate::SqliteStore;

pub(crate) const COLUMNS: &str =
    "transaction_id, version, user_id, at, actor, action, record, before";

/// What [`append`] does when the version is kept already.
#[derive(Clone, Copy)]
pub(crate) enum OnKept {
    /// Leave the kept entry (an import of a version carried with its export).
    Keep,
    /// Replace it (a transfer writes what it is given).
    Replace,
}

/// Writes one entry, inside the caller's transaction.
pub(crate) fn append(
    conn: &Connection,
    entry: &HistoryEntry,
    on_kept: OnKept,
) -> rusqlite::Result<()> {
    let verb = match on_kept {
        OnKept::Keep => "INSERT OR IGNORE",
        OnKept::Replace => "INSERT OR REPLACE",
    };
    conn.prepare_cached(&format!(
        "{verb} INTO history ({COLUMNS}) \
         VALUES (:id, :version, :user, :at, :actor, :action, :record, :before)"
    ))?
    .execute(named_params! {
        ":id": entry.transaction_id.object_id().bytes(),
        ":version": version_param(entry.version),
        ":user": entry.user_id.object_id().bytes(),
        ":at": entry.at.as_millis(),
        ":actor": entry.actor.as_str(),
        ":action": entry.action.as_str(),
        ":record": HistoryEntry::record_text(&entry.record),
        ":before": entry.before.as_ref().map(HistoryEntry::record_text),
    })?;
    Ok(())
}

fn conversion(column: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        format!("a history row's {what} is not in the store's shape").into(),
    )
}

/// One entry from a row of [`COLUMNS`].
pub(crate) fn read_entry(row: &Row<'_>) -> rusqlite::Result<HistoryEntry> {
    let version: i64 = row.get(1)?;
    let actor: String = row.get(4)?;
    let action: String = row.get(5)?;
    let record: String = row.get(6)?;
    let before: Option<String> = row.get(7)?;
    Ok(HistoryEntry {
        transaction_id: TransactionId::new(object_id(row.get(0)?)?),
        version: u64::try_from(version).map_err(|_| conversion(1, "version"))?,
        user_id: UserId::new(object_id(row.get(2)?)?),
        at: timestamp(row, 3)?,
        actor: Actor::new(actor).map_err(|_| conversion(4, "actor"))?,
        action: HistoryAction::parse(&action).ok_or_else(|| conversion(5, "action"))?,
        record: HistoryEntry::record_from_text(&record).map_err(|_| conversion(6, "record"))?,
        before: before
            .as_deref()
            .map(HistoryEntry::record_from_text)
            .transpose()
            .map_err(|_| conversion(7, "before"))?,
    })
}

/// Up to `limit` entries after `(id, version)`, in key order.
pub(crate) fn entries_after(
    conn: &Connection,
    after: Option<(TransactionId, u64)>,
    limit: u32,
) -> rusqlite::Result<Vec<HistoryEntry>> {
    let (id, version) = after.map_or((Vec::new(), -1), |(id, v)| {
        (id.object_id().bytes().to_vec(), version_param(v))
    });
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM history WHERE (transaction_id, version) > (?1, ?2) \
         ORDER BY transaction_id, version LIMIT ?3"
    ))?
    .query_map(params![id, version, limit], read_entry)?
    .collect()
}

#[async_trait]
impl HistoryLog for SqliteStore {
    async fn history(&self, id: TransactionId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.readers
            .run(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM history WHERE transaction_id = ?1 ORDER BY version"
                ))?
                .query_map([id.object_id().bytes()], read_entry)?
                .collect()
            })
            .await
    }

    async fn prune_history(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.writer
            .run(move |conn| {
                let removed = conn
                    .prepare_cached("DELETE FROM history WHERE at < ?1")?
                    .execute([before.as_millis()])?;
                Ok(removed as u64)
            })
            .await
    }
}
