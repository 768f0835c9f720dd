//! The transaction entity in its forms: what a caller creates ([`NewTransaction`]), what it
//! changes ([`TransactionPatch`]), what a store holds ([`TransactionRecord`], name
//! encrypted) and what a caller reads ([`Transaction`], name in clear text).

use std::fmt;
use std::str::FromStr;

use crate::amount::Amount;
use crate::error::{DomainError, ValueError};
use crate::history::Actor;
use crate::id::{TransactionId, UserId};
use crate::name::{EncryptedName, FullName};
use crate::time::Timestamp;

/// Whether money came in or went out.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransactionType {
    /// Money in.
    Credit,
    /// Money out.
    Debit,
}

impl TransactionType {
    /// `"credit"` or `"debit"`: the canonical text of the type.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Credit => "credit",
            Self::Debit => "debit",
        }
    }
}

impl FromStr for TransactionType {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "credit" => Ok(Self::Credit),
            "debit" => Ok(Self::Debit),
            _ => Err(ValueError::new("must be \"credit\" or \"debit\"")),
        }
    }
}

impl fmt::Display for TransactionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transaction as callers see it: the name decrypted.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transaction {
    /// Its id.
    pub id: TransactionId,
    /// The user it belongs to.
    pub user_id: UserId,
    /// The customer's name, in clear text.
    pub full_name: FullName,
    /// The amount, exact.
    pub amount: Amount,
    /// Credit or debit.
    pub kind: TransactionType,
    /// When the transaction happened (the caller's date, or the creation time).
    pub transaction_date: Timestamp,
    /// When it was recorded; never changes.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
    /// Starts at 1 and grows by one with every change (for optimistic concurrency).
    pub version: u64,
}

/// A transaction as stores hold it: the name is a cipher token, everything else is clear
/// text so the store can filter, sort and aggregate.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TransactionRecord {
    /// Its id.
    pub id: TransactionId,
    /// The user it belongs to.
    pub user_id: UserId,
    /// The encrypted name.
    pub full_name: EncryptedName,
    /// The amount, exact.
    pub amount: Amount,
    /// Credit or debit.
    pub kind: TransactionType,
    /// When the transaction happened.
    pub transaction_date: Timestamp,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
    /// 1 when created, one more with every update.
    pub version: u64,
}

/// What a caller supplies to create a transaction; every value already validated.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewTransaction {
    /// The owning user.
    pub user_id: UserId,
    /// The customer's name.
    pub full_name: FullName,
    /// The amount.
    pub amount: Amount,
    /// Credit or debit.
    pub kind: TransactionType,
    /// When it happened; `None` means now. At most five minutes in the future.
    pub transaction_date: Option<Timestamp>,
}

/// A non-empty change to a transaction's mutable fields.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TransactionPatch {
    full_name: Option<FullName>,
    amount: Option<Amount>,
    kind: Option<TransactionType>,
}

impl TransactionPatch {
    /// Builds a patch; [`DomainError::EmptyPatch`] when it would change nothing.
    pub fn new(
        full_name: Option<FullName>,
        amount: Option<Amount>,
        kind: Option<TransactionType>,
    ) -> Result<Self, DomainError> {
        if full_name.is_none() && amount.is_none() && kind.is_none() {
            return Err(DomainError::EmptyPatch);
        }
        Ok(Self {
            full_name,
            amount,
            kind,
        })
    }

    /// The new name, if it changes.
    pub fn full_name(&self) -> Option<&FullName> {
        self.full_name.as_ref()
    }

    /// The new amount, if it changes.
    pub fn amount(&self) -> Option<Amount> {
        self.amount
    }

    /// The new type, if it changes.
    pub fn kind(&self) -> Option<TransactionType> {
        self.kind
    }
}

/// A patch as stores apply it: the name already encrypted, and the new `updated_at`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RecordPatch {
    /// The new encrypted name, if it changes.
    pub full_name: Option<EncryptedName>,
    /// The new amount, if it changes.
    pub amount: Option<Amount>,
    /// The new type, if it changes.
    pub kind: Option<TransactionType>,
    /// The time of this change.
    pub updated_at: Timestamp,
    /// Apply only if the record is at this version; `None` applies always.
    pub expected_version: Option<u64>,
    /// Who makes the change (for its history entry).
    pub actor: Actor,
}

/// The outcome of a conditional write.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Written {
    /// Done; the record as it is after the update, or as it was before the delete.
    Done(TransactionRecord),
    /// No record has this id.
    NotFound,
    /// The record exists but is not at the expected version; nothing was changed.
    VersionMismatch,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_only_lowercase_words() {
        assert_eq!(
            "credit".parse::<TransactionType>().unwrap(),
            TransactionType::Credit
        );
        assert_eq!(
            "debit".parse::<TransactionType>().unwrap(),
            TransactionType::Debit
        );
        assert!("Credit".parse::<TransactionType>().is_err());
        assert!("".parse::<TransactionType>().is_err());
    }

    #[test]
    fn empty_patch_is_rejected() {
        assert!(matches!(
            TransactionPatch::new(None, None, None),
            Err(DomainError::EmptyPatch)
        ));
        assert!(TransactionPatch::new(None, Some(Amount::ZERO), None).is_ok());
    }
}
