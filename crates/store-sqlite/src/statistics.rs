//! The [`StatisticsQuery`] port: whole days from the roll-ups, partial days from rows.

use async_trait::async_trait;
use fido_domain::{
    DateRange, DayTotals, MoneySum, StatisticsQuery, StoreError, Timestamp, TransactionTotals,
    UserId, MS_PER_DAY,
};

use crate::errors::conversion;
use crate::{rollups, SqliteStore};

/// Amounts are summed in two parts (whole billions of cents, and the rest) so that no
/// intermediate sum can overflow SQLite's 64-bit integers; Rust recombines them in i128.
/// The columns of day rows grouped from the rows a query selects (`GROUP BY d`): the
/// day number, the count and the two-part sums. Named parameters `:day` and `:split`.
macro_rules! day_columns {
    () => {
        "(transaction_date - (((transaction_date % :day) + :day) % :day)) / :day AS d, \
         count(*) AS n, \
         coalesce(sum(CASE WHEN kind = 'credit' THEN amount_cents / :split END), 0) AS ch, \
         coalesce(sum(CASE WHEN kind = 'credit' THEN amount_cents % :split END), 0) AS cl, \
         coalesce(sum(CASE WHEN kind = 'debit' THEN amount_cents / :split END), 0) AS dh, \
         coalesce(sum(CASE WHEN kind = 'debit' THEN amount_cents % :split END), 0) AS dl"
    };
}
pub(crate) use day_columns;

/// Sums are kept in two parts, `cents / SPLIT` and `cents % SPLIT`, so no 64-bit sum
/// overflows.
pub(crate) const SPLIT: i64 = 1_000_000_000;

/// A sum from its two parts.
pub(crate) fn money(hi: i64, lo: i64) -> MoneySum {
    MoneySum::from_cents(i128::from(hi) * i128::from(SPLIT) + i128::from(lo))
}

/// The parameters of [`DAYS`] for a user's range.
pub(crate) struct DayParams {
    user: [u8; 12],
    split: fido_domain::DaySplit,
}

impl DayParams {
    fn of(user: UserId, range: DateRange) -> Self {
        Self {
            user: user.object_id().bytes(),
            split: range.day_split(),
        }
    }

    fn as_params(&self) -> Vec<(&'static str, &dyn rusqlite::ToSql)> {
        vec![
            (":user", &self.user),
            (":full_from", &self.split.full_days.0),
            (":full_to", &self.split.full_days.1),
            (":head_from", &self.split.head.0),
            (":head_to", &self.split.head.1),
            (":tail_from", &self.split.tail.0),
            (":tail_to", &self.split.tail.1),
            (":split", &SPLIT),
            (":day", &MS_PER_DAY),
        ]
    }
}

/// The day rows of a user's range: whole days from the roll-ups, the partial first and
/// last days grouped from the rows — each a plain index range of its own (an `OR` of the
/// two would make SQLite walk every row of the user). Parameters: `:user`, `:full_from`/`:full_to` (day
/// numbers), `:head_from`/`:head_to` and `:tail_from`/`:tail_to` (ms), `:split`, `:day`.
pub(crate) const DAYS: &str = concat!(
    "WITH days AS ( \
       SELECT day AS d, count AS n, credit_hi AS ch, credit_lo AS cl, \
              debit_hi AS dh, debit_lo AS dl \
       FROM daily_totals \
       WHERE user_id = :user AND day BETWEEN :full_from AND :full_to \
       UNION ALL SELECT ",
    day_columns!(),
    " FROM transactions \
       WHERE user_id = :user AND transaction_date BETWEEN :head_from AND :head_to \
       GROUP BY d \
       UNION ALL SELECT ",
    day_columns!(),
    " FROM transactions \
       WHERE user_id = :user AND transaction_date BETWEEN :tail_from AND :tail_to \
       GROUP BY d) "
);

#[async_trait]
impl StatisticsQuery for SqliteStore {
    async fn totals(
        &self,
        user: UserId,
        range: DateRange,
    ) -> Result<TransactionTotals, StoreError> {
        self.readers
            .run(move |conn| {
                // Whole days come from the daily roll-ups; only the partial first and last
                // days of a range with times of day are read from the rows (through the
                // index). The totals and the busiest day are then taken from the day rows:
                // O(days in range) plus at most two days of rows.
                let mut stmt = conn.prepare_cached(&format!(
                    "{DAYS} SELECT coalesce(sum(n), 0), \
                       coalesce(sum(ch), 0), coalesce(sum(cl), 0), \
                       coalesce(sum(dh), 0), coalesce(sum(dl), 0), \
                       (SELECT d FROM days ORDER BY n DESC, d ASC LIMIT 1) \
                     FROM days"
                ))?;
                stmt.query_row(DayParams::of(user, range).as_params().as_slice(), |row| {
                    let day: Option<i64> = row.get(5)?;
                    let busiest_day = day
                        .map(|d| {
                            Timestamp::from_millis(d.saturating_mul(MS_PER_DAY))
                                .map(Timestamp::day)
                                .map_err(|_| conversion(5, "day"))
                        })
                        .transpose()?;
                    Ok(TransactionTotals {
                        count: u64::try_from(row.get::<_, i64>(0)?)
                            .map_err(|_| conversion(0, "count"))?,
                        total_credit: money(row.get(1)?, row.get(2)?),
                        total_debit: money(row.get(3)?, row.get(4)?),
                        busiest_day,
                    })
                })
            })
            .await
    }

    async fn daily(&self, user: UserId, range: DateRange) -> Result<Vec<DayTotals>, StoreError> {
        self.readers
            .run(move |conn| {
                let sql = format!("{DAYS} SELECT d, n, ch, cl, dh, dl FROM days ORDER BY d");
                let params = DayParams::of(user, range);
                rollups::day_rows(conn, &sql, params.as_params().as_slice())
            })
            .await
    }
}
