//! The permanent history of every change to a transaction: one [`HistoryEntry`] per
//! version, written by the store in the same atomic write as the change it records, so
//! there is never a change without its version nor a version without its change.
//!
//! An entry holds the record as the change left it (for a deletion: as it was when
//! deleted) and, for an update, the record before; names stay encrypted, as in the
//! record. The service decrypts them and turns the pair into the changed fields
//! ([`TransactionVersion`]) when a caller reads the history.

use std::fmt;

use crate::amount::Amount;
use crate::error::ValueError;
use crate::id::{TransactionId, UserId};
use crate::name::FullName;
use crate::time::Timestamp;
use crate::transaction::{TransactionRecord, TransactionType};

/// Who made a change: the API key's name for requests, the command's name (`migrate`,
/// `import`) for the command-line tools. Letters, digits, `-`, `_` and `.`; 1 to 128
/// characters (the rule of API key names), so it is safe to show and to log.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Actor(String);

impl Actor {
    /// The longest actor name.
    pub const MAX_LEN: usize = 128;

    /// Checks the name against the rule above.
    pub fn new(name: impl Into<String>) -> Result<Self, ValueError> {
        let name = name.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() || name.len() > Self::MAX_LEN || !name.chars().all(allowed) {
            return Err(ValueError::new(
                "must be 1 to 128 letters, digits, '-', '_' or '.'",
            ));
        }
        Ok(Self(name))
    }

    /// The actor of the `fido migrate` command.
    pub fn migrate() -> Self {
        Self("migrate".to_owned())
    }

    /// The actor of the `fido import` command.
    pub fn import() -> Self {
        Self("import".to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a change did.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum HistoryAction {
    /// The transaction was recorded.
    Created,
    /// Some of its fields changed.
    Updated,
    /// It was deleted.
    Deleted,
}

impl HistoryAction {
    /// `created`, `updated` or `deleted`: the stored and shown text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }

    /// The action of its text; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "created" => Some(Self::Created),
            "updated" => Some(Self::Updated),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// One version of a transaction, as stores keep it (names encrypted).
///
/// Versions are numbered like the record's `version`: 1 for the creation, the record's
/// new version for an update, and one past the last version for the deletion. A store
/// keeps at most one entry per `(transaction_id, version)`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HistoryEntry {
    /// The transaction changed.
    pub transaction_id: TransactionId,
    /// Its owner after the change (kept so a user's history can be found without the
    /// record, which a deletion removes).
    pub user_id: UserId,
    /// The version this change made.
    pub version: u64,
    /// When the change was made.
    pub at: Timestamp,
    /// Who made it.
    pub actor: Actor,
    /// What it did.
    pub action: HistoryAction,
    /// The record as the change left it; for a deletion, as it was when deleted.
    pub record: TransactionRecord,
    /// For an update: the record before it.
    pub before: Option<TransactionRecord>,
}

impl HistoryEntry {
    /// The entry of the creation of `record`.
    pub fn created(record: &TransactionRecord, actor: Actor) -> Self {
        Self {
            transaction_id: record.id,
            user_id: record.user_id,
            version: record.version,
            at: record.created_at,
            actor,
            action: HistoryAction::Created,
            record: record.clone(),
            before: None,
        }
    }

    /// The entry of a change from `before` to `after` (an update, or an import that
    /// replaced a record).
    pub fn updated(before: &TransactionRecord, after: &TransactionRecord, actor: Actor) -> Self {
        Self {
            transaction_id: after.id,
            user_id: after.user_id,
            version: after.version,
            at: after.updated_at,
            actor,
            action: HistoryAction::Updated,
            record: after.clone(),
            before: Some(before.clone()),
        }
    }

    /// The entry of the deletion of `record` at `at`.
    pub fn deleted(record: &TransactionRecord, at: Timestamp, actor: Actor) -> Self {
        Self {
            transaction_id: record.id,
            user_id: record.user_id,
            version: record.version.saturating_add(1),
            at,
            actor,
            action: HistoryAction::Deleted,
            record: record.clone(),
            before: None,
        }
    }
}

/// The values of a transaction a version shows, the name decrypted.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VersionValues {
    /// The owner.
    pub user_id: UserId,
    /// The customer's name, as the transaction's own read shows it.
    pub full_name: FullName,
    /// The amount, exact.
    pub amount: Amount,
    /// Credit or debit.
    pub kind: TransactionType,
    /// When the transaction happened.
    pub transaction_date: Timestamp,
}

/// One field an update changed, before and after.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FieldChange {
    /// The owner moved (only an import does that).
    UserId(UserId, UserId),
    /// The name.
    FullName(FullName, FullName),
    /// The amount.
    Amount(Amount, Amount),
    /// The type.
    Kind(TransactionType, TransactionType),
    /// The date (only an import does that).
    TransactionDate(Timestamp, Timestamp),
}

/// One version of a transaction as a caller reads it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TransactionVersion {
    /// The version this change made.
    pub version: u64,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: HistoryAction,
    /// The values after the change (for a deletion: the values it had).
    pub values: VersionValues,
    /// For an update: each field it changed, before and after (in the order `user_id`,
    /// `full_name`, `amount`, `type`, `transaction_date`).
    pub changes: Vec<FieldChange>,
}

impl TransactionVersion {
    /// The version of `entry`, with its names already decrypted (`name`, and `before_name`
    /// for an update's record before).
    pub fn of(entry: HistoryEntry, name: FullName, before_name: Option<FullName>) -> Self {
        let record = &entry.record;
        let mut changes = Vec::new();
        if let (Some(before), Some(before_name)) = (&entry.before, before_name) {
            if before.user_id != record.user_id {
                changes.push(FieldChange::UserId(before.user_id, record.user_id));
            }
            if before_name != name {
                changes.push(FieldChange::FullName(before_name, name.clone()));
            }
            if before.amount != record.amount {
                changes.push(FieldChange::Amount(before.amount, record.amount));
            }
            if before.kind != record.kind {
                changes.push(FieldChange::Kind(before.kind, record.kind));
            }
            if before.transaction_date != record.transaction_date {
                changes.push(FieldChange::TransactionDate(
                    before.transaction_date,
                    record.transaction_date,
                ));
            }
        }
        Self {
            version: entry.version,
            at: entry.at,
            actor: entry.actor,
            action: entry.action,
            values: VersionValues {
                user_id: record.user_id,
                full_name: name,
                amount: record.amount,
                kind: record.kind,
                transaction_date: record.transaction_date,
            },
            changes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::EncryptedName;

    fn record() -> TransactionRecord {
        let now = Timestamp::from_millis(1_700_000_000_123).unwrap();
        TransactionRecord {
            id: TransactionId::generate(now),
            user_id: UserId::parse("65f1a2b3c4d5e6f708192a3b").unwrap(),
            full_name: EncryptedName::new("gAAAAtoken"),
            amount: Amount::from_cents(12_345).unwrap(),
            kind: TransactionType::Debit,
            transaction_date: now,
            created_at: now,
            updated_at: now,
            version: 3,
        }
    }

    #[test]
    fn actors_follow_the_key_name_rule() {
        assert!(Actor::new("billing-service.v2_a").is_ok());
        assert!(Actor::new("").is_err());
        assert!(Actor::new("has space").is_err());
        assert!(Actor::new("x".repeat(129)).is_err());
        assert_eq!(Actor::migrate().as_str(), "migrate");
    }

    #[test]
    fn an_update_shows_only_the_fields_it_changed() {
        let before = record();
        let after = TransactionRecord {
            amount: Amount::from_cents(1).unwrap(),
            version: 4,
            ..before.clone()
        };
        let entry = HistoryEntry::updated(&before, &after, Actor::new("k").unwrap());
        let name = FullName::parse("Ada").unwrap();
        let v = TransactionVersion::of(entry, name.clone(), Some(name));
        assert_eq!(v.version, 4);
        assert_eq!(
            v.changes,
            vec![FieldChange::Amount(before.amount, after.amount)]
        );
        let gone = HistoryEntry::deleted(&after, after.updated_at, Actor::import());
        assert_eq!((gone.version, gone.action), (5, HistoryAction::Deleted));
    }
}
