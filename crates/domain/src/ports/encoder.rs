//! Encoding the results of cached reads into what a transport sends.

use crate::page::Page;
use crate::statistics::{Balance, Series, StatisticsSummary};
use crate::transaction::Transaction;

/// Why a read could not be encoded (see [`ReadEncoder`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode: {0}")]
pub struct EncodeError(pub String);

/// Encodes the results of cached reads into the bytes a transport sends.
///
/// The service caches what this returns and hands a cache hit back as it is, so a hit is
/// never decoded and encoded again. The encoder belongs to the edge that owns the wire
/// format (the HTTP crate writes JSON); the domain never sees the format.
///
/// Contract: encoding is deterministic for equal values, and [`format`](Self::format)
/// changes whenever the output for some value changes (it is part of every cache key, so
/// instances that encode differently never read each other's entries).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait ReadEncoder: Send + Sync {
    /// A short tag naming this encoding and its version, e.g. `json1`: printable ASCII
    /// without spaces or `:`.
    fn format(&self) -> &'static str;

    /// Encodes one page of a user's transactions.
    fn encode_page(&self, page: &Page<Transaction>) -> Result<String, EncodeError>;

    /// Encodes a user's statistics.
    fn encode_statistics(&self, summary: &StatisticsSummary) -> Result<String, EncodeError>;

    /// Encodes a user's time series.
    fn encode_series(&self, series: &Series) -> Result<String, EncodeError>;

    /// Encodes one transaction, as read by id.
    fn encode_transaction(&self, transaction: &Transaction) -> Result<String, EncodeError>;

    /// Encodes a user's balance at an instant.
    fn encode_balance(&self, balance: &Balance) -> Result<String, EncodeError>;
}
