//! The [`HistoryLog`] port on the `history` table: one row per version, written by the
//! change's own transaction (see `transactions.rs`), kept after the record is deleted.
//!
//! A create's version is written *lean*: its values are the row it creates, so the row
//! keeps only who and when (about 50 bytes instead of 250: the embedded store's writes are
//! bound by the bytes its single writer puts on disk). Its values are read back from
//! where they live next: the following version's record before (an update's `before_*`,
//! a deletion's record), or else the transaction's row — both in the same query
//! ([`SELECT`]). Every other version, and every version a transfer writes, is whole.

use async_trait::async_trait;
use fido_domain::{
    Actor, Amount, EncryptedName, HistoryAction, HistoryEntry, HistoryLog, StoreError, Timestamp,
    TransactionId, TransactionRecord, TransactionType, UserId,
};
use rusqlite::{params, Connection, Row};

use crate::rows::{cents_param, object_id, timestamp, version_param};
use crate::SqliteStore;

/// The versions with their values where a lean one's are (see the module's
/// documentation): columns 0–20 the row, 21–28 the next version's record before (NULL
/// when there is none), 29–36 the transaction's row (NULL when gone). Followed by a
/// `WHERE` on `h`.
const SELECT: &str = "SELECT h.transaction_id, h.version, h.at, h.actor, h.action, \
    h.user_id, h.full_name, h.amount_cents, h.kind, h.transaction_date, h.created_at, \
    h.updated_at, h.record_version, \
    h.before_user_id, h.before_full_name, h.before_amount, h.before_kind, h.before_date, \
    h.before_created, h.before_updated, h.before_version, \
    iif(n.action = 'updated', n.before_user_id, n.user_id), \
    iif(n.action = 'updated', n.before_full_name, n.full_name), \
    iif(n.action = 'updated', n.before_amount, n.amount_cents), \
    iif(n.action = 'updated', n.before_kind, n.kind), \
    iif(n.action = 'updated', n.before_date, n.transaction_date), \
    iif(n.action = 'updated', n.before_created, n.created_at), \
    iif(n.action = 'updated', n.before_updated, n.updated_at), \
    iif(n.action = 'updated', n.before_version, n.record_version), \
    t.user_id, t.full_name, t.amount_cents, t.kind, t.transaction_date, t.created_at, \
    t.updated_at, t.version \
    FROM history h \
    LEFT JOIN history n ON n.transaction_id = h.transaction_id AND n.version = h.version + 1 \
    LEFT JOIN transactions t ON h.full_name IS NULL AND t.id = h.transaction_id ";

/// What [`append`] does when the version is kept already.
#[derive(Clone, Copy)]
pub(crate) enum OnKept {
    /// Leave the kept entry (an import of a version carried with its export).
    Keep,
    /// Replace it (a transfer writes what it is given).
    Replace,
}

const INSERT_OR_IGNORE: &str = "INSERT OR IGNORE INTO history VALUES \
    (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)";
const INSERT_OR_REPLACE: &str = "INSERT OR REPLACE INTO history VALUES \
    (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)";

/// Writes the version of a create whose row is written in the same transaction: who and
/// when only (its values are the row's until the next version says otherwise).
pub(crate) fn append_created(conn: &Connection, entry: &HistoryEntry) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO history (transaction_id, version, at, actor, action, user_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        entry.transaction_id.object_id().bytes(),
        version_param(entry.version),
        entry.at.as_millis(),
        entry.actor.as_str(),
        entry.action.as_str(),
        entry.user_id.object_id().bytes(),
    ])?;
    Ok(())
}

/// Writes one entry whole, inside the caller's transaction: one row in the transactions'
/// own column forms (no text encoding of the record).
pub(crate) fn append(
    conn: &Connection,
    entry: &HistoryEntry,
    on_kept: OnKept,
) -> rusqlite::Result<()> {
    let sql = match on_kept {
        OnKept::Keep => INSERT_OR_IGNORE,
        OnKept::Replace => INSERT_OR_REPLACE,
    };
    let r = &entry.record;
    let b = entry.before.as_ref();
    conn.prepare_cached(sql)?.execute(params![
        entry.transaction_id.object_id().bytes(),
        version_param(entry.version),
        entry.at.as_millis(),
        entry.actor.as_str(),
        entry.action.as_str(),
        r.user_id.object_id().bytes(),
        r.full_name.as_str(),
        cents_param(r.amount),
        r.kind.as_str(),
        r.transaction_date.as_millis(),
        r.created_at.as_millis(),
        r.updated_at.as_millis(),
        version_param(r.version),
        b.map(|b| b.user_id.object_id().bytes()),
        b.map(|b| b.full_name.as_str()),
        b.map(|b| cents_param(b.amount)),
        b.map(|b| b.kind.as_str()),
        b.map(|b| b.transaction_date.as_millis()),
        b.map(|b| b.created_at.as_millis()),
        b.map(|b| b.updated_at.as_millis()),
        b.map(|b| version_param(b.version)),
    ])?;
    Ok(())
}

fn conversion(column: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        format!("a history row's {what} is not in the store's shape").into(),
    )
}

/// The record of transaction `id` whose columns start at `first` (user, name, amount,
/// type, date, created, updated, version).
fn record_at(
    row: &Row<'_>,
    id: TransactionId,
    first: usize,
) -> rusqlite::Result<TransactionRecord> {
    let cents: i64 = row.get(first + 2)?;
    let kind: String = row.get(first + 3)?;
    let version: i64 = row.get(first + 7)?;
    Ok(TransactionRecord {
        id,
        user_id: UserId::new(object_id(row.get(first)?)?),
        full_name: EncryptedName::new(row.get::<_, String>(first + 1)?),
        amount: u64::try_from(cents)
            .ok()
            .and_then(|c| Amount::from_cents(c).ok())
            .ok_or_else(|| conversion(first + 2, "amount"))?,
        kind: kind
            .parse::<TransactionType>()
            .map_err(|_| conversion(first + 3, "transaction type"))?,
        transaction_date: timestamp(row, first + 4)?,
        created_at: timestamp(row, first + 5)?,
        updated_at: timestamp(row, first + 6)?,
        version: u64::try_from(version).map_err(|_| conversion(first + 7, "version"))?,
    })
}

/// One entry from a row of [`SELECT`]: a lean version's values from the next version's
/// record before, or else from the transaction's row.
pub(crate) fn read_entry(row: &Row<'_>) -> rusqlite::Result<HistoryEntry> {
    let id = TransactionId::new(object_id(row.get(0)?)?);
    let version: i64 = row.get(1)?;
    let actor: String = row.get(3)?;
    let action: String = row.get(4)?;
    let lean = row.get::<_, Option<String>>(6)?.is_none();
    let record = if !lean {
        record_at(row, id, 5)?
    } else if row.get::<_, Option<Vec<u8>>>(21)?.is_some() {
        record_at(row, id, 21)?
    } else if row.get::<_, Option<Vec<u8>>>(29)?.is_some() {
        record_at(row, id, 29)?
    } else {
        return Err(conversion(
            6,
            "values (neither a later version nor the row holds them)",
        ));
    };
    let before = match row.get::<_, Option<Vec<u8>>>(13)? {
        Some(_) => Some(record_at(row, id, 13)?),
        None => None,
    };
    Ok(HistoryEntry {
        transaction_id: id,
        version: u64::try_from(version).map_err(|_| conversion(1, "version"))?,
        user_id: record.user_id,
        at: timestamp(row, 2)?,
        actor: Actor::new(actor).map_err(|_| conversion(3, "actor"))?,
        action: HistoryAction::parse(&action).ok_or_else(|| conversion(4, "action"))?,
        record,
        before,
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
        "{SELECT} WHERE (h.transaction_id, h.version) > (?1, ?2) \
         ORDER BY h.transaction_id, h.version LIMIT ?3"
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
                    "{SELECT} WHERE h.transaction_id = ?1 ORDER BY h.version"
                ))?
                .query_map([id.object_id().bytes()], read_entry)?
                .collect()
            })
            .await
    }

    async fn prune_history(&self, before: Timestamp) -> Result<u64, StoreError> {
        // No index on `at` (it would cost every write a second B-tree insert): the
        // retention walks the key in slices of the writer's time, a few thousand rows
        // each, so writes keep flowing between them.
        let mut removed = 0u64;
        let mut after: Option<(Vec<u8>, i64)> = None;
        loop {
            let from = after.clone();
            let (gone, last) = self
                .writer
                .run(move |conn| {
                    let (id, version) = from.unwrap_or((Vec::new(), -1));
                    let slice: Vec<(Vec<u8>, i64)> = conn
                        .prepare_cached(
                            "SELECT transaction_id, version FROM history \
                             WHERE (transaction_id, version) > (?1, ?2) \
                             ORDER BY transaction_id, version LIMIT 5000",
                        )?
                        .query_map(params![id, version], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<_>>()?;
                    let Some(last) = slice.last().cloned() else {
                        return Ok((0, None));
                    };
                    let gone = conn
                        .prepare_cached(
                            "DELETE FROM history WHERE (transaction_id, version) > (?1, ?2) \
                             AND (transaction_id, version) <= (?3, ?4) AND at < ?5",
                        )?
                        .execute(params![id, version, last.0, last.1, before.as_millis()])?;
                    Ok((gone as u64, Some(last)))
                })
                .await?;
            removed += gone;
            match last {
                Some(last) => after = Some(last),
                None => return Ok(removed),
            }
        }
    }
}
