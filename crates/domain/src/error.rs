//! Errors of the domain: the one enum services return ([`DomainError`]), its typed parts
//! ([`NotFound`], [`InternalError`]), the errors the ports report ([`StoreError`],
//! [`CacheError`], [`CipherError`]), and the small type value parsers use to say which
//! rule an input breaks ([`ValueError`]).
//!
//! Nothing here speaks a transport: there is no status code, header or field name of any
//! wire format. The edge that received the input knows which field a [`ValueError`] came
//! from and how to show each variant to its callers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::ports::EncodeError;
pub use crate::value_error::ValueError;

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached (connection refused, timeout, no server selected).
    /// Transient: the same call may succeed later (the service reports
    /// [`DomainError::StoreUnavailable`]).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A record with this id already exists.
    #[error("a record with this id already exists")]
    Duplicate,
    /// The database holds data in an older layout that this version does not read (the
    /// original service's documents): nothing is read or written until `fido migrate`
    /// has converted it. Never a wrong answer, never a 500.
    #[error("migration required: {0}")]
    MigrationRequired(String),
    /// What the call needs includes documents `fido migrate` could not convert and set
    /// aside (its report lists them): refused whole, never answered without them. Other
    /// users' data is served as usual.
    #[error("{documents} document(s) set aside by the migration")]
    Quarantined {
        /// How many of the documents the call needs were set aside.
        documents: u64,
    },
    /// Anything else (corrupt row, schema mismatch, driver bug): an internal error.
    #[error("store failure: {0}")]
    Internal(String),
}

/// Why a cache call failed. Callers treat every cache error as a miss: the cache is an
/// optimisation, never a source of truth.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The cache did not answer in time, or not at all.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
}

/// Why a cipher call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// The token is corrupt, was tampered with, or was made with a key this cipher does
    /// not hold. The message never contains key material or plaintext.
    #[error("the token cannot be decrypted with the configured keys")]
    InvalidToken,
    /// The cipher could not work at all (for example no randomness for an IV).
    #[error("cipher failure: {0}")]
    Internal(String),
}

/// What could not be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotFound {
    /// No transaction has the requested id.
    Transaction,
    /// The user has no transaction in the requested range (statistics need at least one).
    NoTransactionsInRange,
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transaction => "no transaction has this id",
            Self::NoTransactionsInRange => "the user has no transaction in the range",
        })
    }
}

/// The one error every service operation returns.
///
/// Each variant is a distinct outcome a caller may react to; the `Internal` and
/// `StoreUnavailable` variants keep their cause as the error's [`source`] for the logs.
///
/// [`source`]: std::error::Error::source
#[derive(Debug, Clone, thiserror::Error)]
pub enum DomainError {
    /// Something the request names does not exist.
    #[error("not found: {0}")]
    NotFound(NotFound),
    /// The transaction's date lies further in the future than the allowed clock skew.
    #[error("the transaction date is more than {}s in the future", max.as_secs())]
    DateTooFarAhead {
        /// The largest allowed distance into the future.
        max: Duration,
    },
    /// A balance was asked for further ahead than [`Balance::MAX_AHEAD_MS`](crate::Balance)
    /// past the present.
    #[error("a balance can be asked for at most one day ahead")]
    TooFarAhead,
    /// Running balances were asked for a listing whose filters skip transactions (by
    /// type or amount): a balance counts every transaction.
    #[error("running balances need every transaction: not with a type or amount filter")]
    RunningBalanceFiltered,
    /// A time series would have more points than allowed; narrow the range.
    #[error("the series would have more than {max} points")]
    TooManyPoints {
        /// The most points a series may have.
        max: usize,
    },
    /// An update that would change nothing.
    #[error("the update changes no field")]
    EmptyPatch,
    /// The idempotency key was already used with a different request.
    #[error("the idempotency key was already used with a different request")]
    IdempotencyKeyReused,
    /// Another request with the same idempotency key is still being processed.
    #[error("a request with this idempotency key is still being processed")]
    IdempotencyInFlight,
    /// A feed cursor points below events that retention has already removed: the reader
    /// has missed events and must start again from a snapshot.
    #[error("events up to sequence {pruned_through} have been removed by retention")]
    CursorExpired {
        /// The highest removed sequence: cursors at or above it are valid.
        pruned_through: u64,
    },
    /// A feed cursor beyond the last sequence given so far: no reader can have seen it
    /// here (a cursor from another deployment, or a store restored from an older copy).
    /// Answering with nothing would skip the events that take those numbers later.
    #[error("no event has a sequence above {last_sequence} yet")]
    CursorAhead {
        /// The highest sequence given so far: cursors up to it are valid.
        last_sequence: u64,
    },
    /// The store writes no events (they are switched off).
    #[error("events are switched off")]
    EventsDisabled,
    /// A conditional write found the record at another version; nothing changed.
    #[error("the transaction has changed since it was read")]
    VersionMismatch,
    /// Writes are paused deployment-wide (an operator's `fido writes pause`, e.g. during
    /// a live move's switch-over): nothing was written; retry shortly. Reads go on.
    #[error("writes are paused")]
    WritesPaused,
    /// The database must be migrated (`fido migrate`) before it can be served.
    #[error("the database must be migrated first")]
    MigrationRequired(#[source] StoreError),
    /// What the request needs includes documents `fido migrate` set aside (it could not
    /// convert them): answered neither partially nor wrongly until they are fixed or
    /// removed and the migration is run again.
    #[error("{documents} document(s) this request needs were set aside by the migration")]
    Quarantined {
        /// How many.
        documents: u64,
    },
    /// The store cannot be reached right now; the caller may retry.
    #[error("the store is unavailable")]
    StoreUnavailable(#[source] StoreError),
    /// A broken invariant, a corrupt record, a key that cannot decrypt: never the
    /// caller's fault, always worth a log line.
    #[error("internal error")]
    Internal(#[source] InternalError),
}

/// The causes of [`DomainError::Internal`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum InternalError {
    /// The store failed in a way that retrying will not fix.
    #[error("the store call failed")]
    Store(#[source] StoreError),
    /// The cipher failed (a stored token no key opens, no randomness).
    #[error("cipher failure")]
    Cipher(#[source] CipherError),
    /// A read could not be encoded for the cache and the caller.
    #[error("cannot encode a read")]
    Encode(#[source] EncodeError),
    /// A saved idempotent answer could not be written or read back.
    #[error("unreadable idempotency snapshot")]
    Snapshot(#[source] Arc<serde_json::Error>),
    /// A cached entry is not in the form the service writes.
    #[error("a cache entry is not in the service's format")]
    CorruptCacheEntry,
}

impl From<InternalError> for DomainError {
    fn from(e: InternalError) -> Self {
        Self::Internal(e)
    }
}

/// Every error of the chain, outermost first, joined by `: ` (for log lines).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_keep_their_cause() {
        let e = DomainError::Internal(InternalError::Store(StoreError::Internal(
            "corrupt row".into(),
        )));
        assert_eq!(
            error_chain(&e),
            "internal error: the store call failed: store failure: corrupt row"
        );
    }
}
