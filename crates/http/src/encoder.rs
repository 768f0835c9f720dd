//! The JSON encoding of cached reads: the domain caches what this writes and hands a cache
//! hit back as it is, so a hit is never parsed and serialised again. The bytes are the
//! `data` of the response, in exactly the shape of [`TransactionPageBody`],
//! [`StatisticsBody`], [`SeriesBody`], [`TransactionBody`] and [`BalanceBody`]: one wire
//! contract, written once.

use fido_domain::{
    Balance, EncodeError, Page, ReadEncoder, Series, StatisticsSummary, Transaction,
};
use serde::Serialize;

use crate::cursor::CursorCodec;
use crate::dto::{BalanceBody, SeriesBody, StatisticsBody, TransactionBody, TransactionPageBody};

/// Encodes reads as the API's JSON (a page's `next_cursor` sealed with the service's
/// cursor key).
#[derive(Debug, Clone)]
pub struct JsonEncoder {
    cursors: CursorCodec,
}

impl JsonEncoder {
    /// An encoder sealing cursors with `cursors`.
    pub fn new(cursors: CursorCodec) -> Self {
        Self { cursors }
    }
}

/// Bumped whenever a DTO's serialised form changes, so instances of different versions
/// sharing a cache never read each other's entries.
const FORMAT: &str = "json3";

fn to_json<T: Serialize>(value: &T) -> Result<String, EncodeError> {
    serde_json::to_string(value).map_err(|e| EncodeError(e.to_string()))
}

impl ReadEncoder for JsonEncoder {
    fn format(&self) -> &'static str {
        FORMAT
    }

    fn encode_page(&self, page: &Page<Transaction>) -> Result<String, EncodeError> {
        to_json(&TransactionPageBody::new(page, &self.cursors))
    }

    fn encode_statistics(&self, summary: &StatisticsSummary) -> Result<String, EncodeError> {
        to_json(&StatisticsBody::from(summary))
    }

    fn encode_series(&self, series: &Series) -> Result<String, EncodeError> {
        to_json(&SeriesBody::from(series))
    }

    fn encode_transaction(&self, transaction: &Transaction) -> Result<String, EncodeError> {
        to_json(&TransactionBody::from(transaction))
    }

    fn encode_balance(&self, balance: &Balance) -> Result<String, EncodeError> {
        to_json(&BalanceBody::from(balance))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fido_domain::{MoneySum, UtcDay};

    #[test]
    fn statistics_are_encoded_with_the_wire_names() {
        let summary = StatisticsSummary {
            busiest_day: UtcDay::parse("2026-11-25").expect("day"),
            average: MoneySum::from_cents(2250),
            total: MoneySum::from_cents(4500),
            count: 2,
            total_credit: MoneySum::from_cents(4500),
            total_debit: MoneySum::ZERO,
            net: MoneySum::from_cents(4500),
        };
        assert_eq!(
            JsonEncoder::new(CursorCodec::from_secrets(&["test"]))
                .encode_statistics(&summary)
                .expect("encode"),
            r#"{"highest_transaction_day":"2026-11-25","average_transaction":22.5,"total_transaction":45.0,"transaction_count":2,"total_credit":45.0,"total_debit":0.0,"net":45.0}"#
        );
    }
}
