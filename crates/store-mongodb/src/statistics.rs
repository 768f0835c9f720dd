//! The [`StatisticsQuery`] port: one aggregation per call, exact sums in Decimal128.

use async_trait::async_trait;
use fido_domain::{
    DateRange, DayTotals, MoneySum, StatisticsQuery, StoreError, TransactionTotals, UserId, UtcDay,
};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::documents::{object_id, parse_decimal_cents};
use crate::rollups::Mode;
use crate::MongoStore;
use mongodb::ClientSession;

/// The clauses that select a user's rows in `[from, to]` (ms, inclusive; `None` open).
///
/// Each bound is its own clause of an `$and`. MongoDB plans this exactly like
/// `{transaction_date: {$gte, $lte}}` (same index bounds), and the pinned test server
/// (SecantusDB 0.7.0b3) answers it correctly, whereas with the descending index it treats
/// the combined form's `$lte` as exclusive.
fn between(from: Option<i64>, to: Option<i64>) -> Vec<Document> {
    let date = |ms: i64| mongodb::bson::DateTime::from_millis(ms);
    let mut clauses = Vec::new();
    if let Some(from) = from {
        clauses.push(doc! {"transaction_date": {"$gte": date(from)}});
    }
    if let Some(to) = to {
        clauses.push(doc! {"transaction_date": {"$lte": date(to)}});
    }
    clauses
}

/// The aggregation's first stages: the user's range, per UTC day a count and exact
/// per-type sums.
fn day_stages(user: UserId, range: DateRange) -> Vec<Document> {
    let mut clauses = vec![doc! {"user_id": object_id(user.object_id())}];
    clauses.extend(between(
        range.start().map(|t| t.as_millis()),
        range.end().map(|t| t.as_millis()),
    ));
    grouped(clauses)
}

/// Groups the rows the clauses select per UTC day.
fn grouped(clauses: Vec<Document>) -> Vec<Document> {
    let exact_sum_of = |kind: &str| {
        doc! {"$sum": {"$cond": [
            {"$eq": ["$transaction_type", kind]},
            {"$toDecimal": "$amount_cents"},
            {"$toDecimal": 0},
        ]}}
    };
    let mut clauses = clauses;
    // Documents set aside by the migration (original layout) are never summed.
    clauses.push(crate::legacy::converted_filter());
    vec![
        doc! {"$match": {"$and": clauses}},
        doc! {"$sort": {"transaction_date": 1}},
        doc! {"$group": {
            "_id": {"$dateToString": {"format": "%Y-%m-%d", "date": "$transaction_date"}},
            "n": {"$sum": 1},
            "credit": exact_sum_of("credit"),
            "debit": exact_sum_of("debit"),
        }},
    ]
}

/// The totals: the day rows, then one row with the totals and the busiest day (most
/// transactions, ties to the earliest).
fn pipeline(user: UserId, range: DateRange) -> Vec<Document> {
    let mut stages = day_stages(user, range);
    stages.extend([
        // Busiest first; among equals, the earliest day first.
        doc! {"$sort": {"n": -1, "_id": 1}},
        doc! {"$group": {
            "_id": Bson::Null,
            "count": {"$sum": "$n"},
            "credit": {"$sum": "$credit"},
            "debit": {"$sum": "$debit"},
            "busiest": {"$first": "$_id"},
        }},
    ]);
    stages
}

/// A whole number of cents from an aggregation field.
fn cents(row: &Document, field: &str) -> Result<i128, StoreError> {
    match row.get(field) {
        Some(Bson::Int32(n)) => Ok(i128::from(*n)),
        Some(Bson::Int64(n)) => Ok(i128::from(*n)),
        Some(Bson::Decimal128(d)) => parse_decimal_cents(&d.to_string())
            .ok_or_else(|| StoreError::Internal(format!("{field} is not a whole number of cents"))),
        other => Err(StoreError::Internal(format!(
            "unexpected {field} in statistics: {other:?}"
        ))),
    }
}

/// One day row of the aggregation.
fn day_from(row: &Document) -> Result<DayTotals, StoreError> {
    let day = row
        .get_str("_id")
        .ok()
        .and_then(|d| UtcDay::parse(d).ok())
        .ok_or_else(|| StoreError::Internal("statistics: a day row without a day".into()))?;
    let count = u64::try_from(cents(row, "n")?)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| StoreError::Internal("statistics: a day row without a count".into()))?;
    Ok(DayTotals {
        day,
        count,
        credit: MoneySum::from_cents(cents(row, "credit")?),
        debit: MoneySum::from_cents(cents(row, "debit")?),
    })
}

/// Reads the aggregation's one row. Anything not in the shape it writes is an internal
/// error, never a zero.
fn totals_from(row: &Document) -> Result<TransactionTotals, StoreError> {
    let number = |field: &str| cents(row, field);
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

impl MongoStore {
    /// Day rows from the rows themselves, for `clauses` (besides the user).
    async fn raw_days(&self, stages: Vec<Document>) -> Result<Vec<DayTotals>, StoreError> {
        let mut stages = stages;
        stages.push(doc! {"$sort": {"_id": 1}});
        let rows: Vec<Document> = self
            .bounded(async { self.collection.aggregate(stages).await?.try_collect().await })
            .await?;
        rows.iter().map(day_from).collect()
    }

    /// Every day row of `user` from the rows, inside `session`'s transaction.
    pub(crate) async fn raw_days_in(
        &self,
        session: &mut ClientSession,
        user: UserId,
    ) -> mongodb::error::Result<Vec<DayTotals>> {
        let mut stages = grouped(vec![doc! {"user_id": object_id(user.object_id())}]);
        stages.push(doc! {"$sort": {"_id": 1}});
        let rows: Vec<Document> = self
            .collection
            .aggregate(stages)
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_collect()
            .await?;
        rows.iter()
            .map(day_from)
            .collect::<Result<_, _>>()
            .map_err(|e| mongodb::error::Error::custom(e.to_string()))
    }

    /// Whole days from the roll-ups, the partial first and last days from the rows.
    async fn days_from_rollups(
        &self,
        user: UserId,
        range: DateRange,
    ) -> Result<Vec<DayTotals>, StoreError> {
        let split = range.day_split();
        let mut days = self
            .rollup_days(user, split.full_days.0, split.full_days.1)
            .await?;
        for (from, to) in [split.head, split.tail] {
            if from <= to {
                let mut clauses = vec![doc! {"user_id": object_id(user.object_id())}];
                clauses.extend(between(Some(from), Some(to)));
                days.extend(self.raw_days(grouped(clauses)).await?);
            }
        }
        days.sort_by_key(|d| d.day);
        Ok(days)
    }
}

#[async_trait]
impl StatisticsQuery for MongoStore {
    async fn totals(
        &self,
        user: UserId,
        range: DateRange,
    ) -> Result<TransactionTotals, StoreError> {
        self.require_user_served(user).await?;
        if self.rollup_mode().await? == Mode::Kept {
            let days = self.days_from_rollups(user, range).await?;
            return Ok(TransactionTotals::from_days(&days));
        }
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

    async fn daily(&self, user: UserId, range: DateRange) -> Result<Vec<DayTotals>, StoreError> {
        self.require_user_served(user).await?;
        if self.rollup_mode().await? == Mode::Kept {
            return self.days_from_rollups(user, range).await;
        }
        self.raw_days(day_stages(user, range)).await
    }
}
