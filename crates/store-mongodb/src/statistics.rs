//! The [`StatisticsQuery`] port: one aggregation per call, exact sums in Decimal128.

use async_trait::async_trait;
use fido_domain::{
    DateRange, MoneySum, StatisticsQuery, StoreError, TransactionTotals, UserId, UtcDay,
};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::documents::{bson_date, object_id, parse_decimal_cents};
use crate::MongoStore;

/// The aggregation: per UTC day a count and exact per-type sums, then one row with the
/// totals and the busiest day (most transactions, ties to the earliest).
fn pipeline(user: UserId, range: DateRange) -> Vec<Document> {
    // Each bound is its own clause of an `$and`. MongoDB plans this exactly like
    // `{transaction_date: {$gte, $lte}}` (same index bounds), and the pinned test server
    // (SecantusDB 0.7.0b3) answers it correctly, whereas with the descending index it
    // treats the combined form's `$lte` as exclusive.
    let mut clauses = vec![doc! {"user_id": object_id(user.object_id())}];
    if let Some(start) = range.start() {
        clauses.push(doc! {"transaction_date": {"$gte": bson_date(start)}});
    }
    if let Some(end) = range.end() {
        clauses.push(doc! {"transaction_date": {"$lte": bson_date(end)}});
    }
    let exact_sum_of = |kind: &str| {
        doc! {"$sum": {"$cond": [
            {"$eq": ["$transaction_type", kind]},
            {"$toDecimal": "$amount_cents"},
            {"$toDecimal": 0},
        ]}}
    };
    vec![
        doc! {"$match": {"$and": clauses}},
        doc! {"$group": {
            "_id": {"$dateToString": {"format": "%Y-%m-%d", "date": "$transaction_date"}},
            "n": {"$sum": 1},
            "credit": exact_sum_of("credit"),
            "debit": exact_sum_of("debit"),
        }},
        // Busiest first; among equals, the earliest day first.
        doc! {"$sort": {"n": -1, "_id": 1}},
        doc! {"$group": {
            "_id": Bson::Null,
            "count": {"$sum": "$n"},
            "credit": {"$sum": "$credit"},
            "debit": {"$sum": "$debit"},
            "busiest": {"$first": "$_id"},
        }},
    ]
}

/// Reads the aggregation's one row. Anything not in the shape it writes is an internal
/// error, never a zero.
fn totals_from(row: &Document) -> Result<TransactionTotals, StoreError> {
    let number = |field: &str| -> Result<i128, StoreError> {
        match row.get(field) {
            Some(Bson::Int32(n)) => Ok(i128::from(*n)),
            Some(Bson::Int64(n)) => Ok(i128::from(*n)),
            Some(Bson::Decimal128(d)) => parse_decimal_cents(&d.to_string()).ok_or_else(|| {
                StoreError::Internal(format!("{field} is not a whole number of cents"))
            }),
            other => Err(StoreError::Internal(format!(
                "unexpected {field} in statistics: {other:?}"
            ))),
        }
    };
    let busiest_day = match row.get_str("busiest") {
        Ok(day) => Some(
            UtcDay::parse(day).map_err(|e| StoreError::Internal(format!("busiest day: {e}")))?,
        ),
        Err(_) => None,
    };
    let count = u64::try_from(number("count")?)
        .map_err(|_| StoreError::Internal("statistics: the count is out of range".into()))?;
    if count > 0 && busiest_day.is_none() {
        return Err(StoreError::Internal(
            "statistics: transactions without a busiest day".into(),
        ));
    }
    Ok(TransactionTotals {
        count,
        total_credit: MoneySum::from_cents(number("credit")?),
        total_debit: MoneySum::from_cents(number("debit")?),
        busiest_day,
    })
}

#[async_trait]
impl StatisticsQuery for MongoStore {
    async fn totals(
        &self,
        user: UserId,
        range: DateRange,
    ) -> Result<TransactionTotals, StoreError> {
        let rows: Vec<Document> = self
            .bounded(async {
                self.collection
                    .aggregate(pipeline(user, range))
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        match rows.first() {
            Some(row) => totals_from(row),
            None => Ok(TransactionTotals::default()),
        }
    }
}
