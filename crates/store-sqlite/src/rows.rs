//! The row codecs and parameters: a transaction's columns both ways.

use fido_domain::{
    Amount, EncryptedName, ObjectId, Timestamp, TransactionId, TransactionRecord, TransactionType,
    UserId,
};
use rusqlite::{named_params, Connection, Row};

use crate::errors::conversion;

pub(crate) const COLUMNS: &str =
    "id, user_id, full_name, amount_cents, kind, transaction_date, created_at, updated_at, version";

pub(crate) fn object_id(bytes: Vec<u8>) -> rusqlite::Result<ObjectId> {
    let arr: [u8; 12] = bytes.try_into().map_err(|b: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            b.len(),
            rusqlite::types::Type::Blob,
            "an id is not 12 bytes".into(),
        )
    })?;
    Ok(ObjectId::from_bytes(arr))
}

pub(crate) fn timestamp(row: &Row<'_>, column: usize) -> rusqlite::Result<Timestamp> {
    Timestamp::from_millis(row.get(column)?).map_err(|_| conversion(column, "timestamp"))
}

pub(crate) fn read_record(row: &Row<'_>) -> rusqlite::Result<TransactionRecord> {
    let kind: String = row.get(4)?;
    let cents: i64 = row.get(3)?;
    Ok(TransactionRecord {
        id: TransactionId::new(object_id(row.get(0)?)?),
        user_id: UserId::new(object_id(row.get(1)?)?),
        full_name: EncryptedName::new(row.get::<_, String>(2)?),
        amount: u64::try_from(cents)
            .ok()
            .and_then(|c| Amount::from_cents(c).ok())
            .ok_or_else(|| conversion(3, "amount"))?,
        kind: kind
            .parse::<TransactionType>()
            .map_err(|_| conversion(4, "transaction type"))?,
        transaction_date: timestamp(row, 5)?,
        created_at: timestamp(row, 6)?,
        updated_at: timestamp(row, 7)?,
        version: u64::try_from(row.get::<_, i64>(8)?).map_err(|_| conversion(8, "version"))?,
    })
}

pub(crate) fn version_param(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

/// How [`write_record`] treats a row whose id is taken.
#[derive(Clone, Copy)]
pub(crate) enum OnTaken {
    /// Fail with a constraint violation (a create).
    Refuse,
    /// Update the row in place (transfers). An update, not `INSERT OR REPLACE`: a replace
    /// deletes without firing the delete trigger (recursive triggers are off), which would
    /// count the old row in the roll-ups for ever; the update trigger moves them exactly.
    Update,
}

/// Writes a record; `on_taken` says what a taken id does.
pub(crate) fn write_record(
    conn: &Connection,
    on_taken: OnTaken,
    r: &TransactionRecord,
) -> rusqlite::Result<()> {
    let conflict = match on_taken {
        OnTaken::Refuse => "",
        OnTaken::Update => {
            " ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, \
             full_name = excluded.full_name, amount_cents = excluded.amount_cents, \
             kind = excluded.kind, transaction_date = excluded.transaction_date, \
             created_at = excluded.created_at, updated_at = excluded.updated_at, \
             version = excluded.version"
        }
    };
    conn.prepare_cached(&format!(
        "INSERT INTO transactions ({COLUMNS}) VALUES \
         (:id, :user_id, :full_name, :amount, :kind, :date, :created, :updated, :version){conflict}"
    ))?
    .execute(named_params! {
        ":id": r.id.object_id().bytes(),
        ":user_id": r.user_id.object_id().bytes(),
        ":full_name": r.full_name.as_str(),
        ":amount": cents_param(r.amount),
        ":kind": r.kind.as_str(),
        ":date": r.transaction_date.as_millis(),
        ":created": r.created_at.as_millis(),
        ":updated": r.updated_at.as_millis(),
        ":version": version_param(r.version),
    })?;
    Ok(())
}

pub(crate) fn cents_param(amount: Amount) -> i64 {
    // Amount::MAX is 1e14 cents, far below i64::MAX.
    i64::try_from(amount.cents()).unwrap_or(i64::MAX)
}
