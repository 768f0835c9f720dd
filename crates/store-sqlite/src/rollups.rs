//! The daily roll-ups seen from outside: checked against the rows and repaired, one user
//! at a time (the triggers of schema version 4 keep them; see `schema.rs`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use fido_domain::{DailyRollups, DayTotals, MoneySum, RollupDrift, StoreError, UserId, UtcDay};
use rusqlite::Connection;

use crate::{day_columns, object_id, SqliteStore, MS_PER_DAY, SPLIT};

/// Day number → (count, credit cents, debit cents).
type Days = BTreeMap<i64, (i64, i128, i128)>;

fn join(hi: i64, lo: i64) -> i128 {
    i128::from(hi) * i128::from(SPLIT) + i128::from(lo)
}

fn collect(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<Days> {
    let mut days = Days::new();
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    while let Some(row) = rows.next()? {
        let day: i64 = row.get(0)?;
        let credit = join(row.get(2)?, row.get(3)?);
        let debit = join(row.get(4)?, row.get(5)?);
        days.insert(day, (row.get(1)?, credit, debit));
    }
    Ok(days)
}

const FROM_ROWS: &str = concat!(
    "SELECT ",
    day_columns!(),
    " FROM transactions WHERE user_id = :user GROUP BY d"
);

const FROM_ROLLUPS: &str = "SELECT day, count, credit_hi, credit_lo, debit_hi, debit_lo \
     FROM daily_totals WHERE user_id = ?1";

fn day_totals(day: i64, (count, credit, debit): (i64, i128, i128)) -> Option<DayTotals> {
    Some(DayTotals {
        day: UtcDay::from_epoch_days(day).ok()?,
        count: u64::try_from(count).ok()?,
        credit: MoneySum::from_cents(credit),
        debit: MoneySum::from_cents(debit),
    })
}

/// The days where the roll-ups differ from the rows.
fn drift(conn: &Connection, user: UserId) -> rusqlite::Result<Vec<RollupDrift>> {
    let bytes = user.object_id().bytes();
    let rows = collect(
        conn,
        FROM_ROWS,
        rusqlite::named_params! {":user": bytes, ":day": MS_PER_DAY, ":split": SPLIT},
    )?;
    let rollups = collect(conn, FROM_ROLLUPS, [bytes])?;
    let mut days: Vec<i64> = rows.keys().chain(rollups.keys()).copied().collect();
    days.sort_unstable();
    days.dedup();
    let mut drift = Vec::new();
    for day in days {
        let (r, u) = (rows.get(&day).copied(), rollups.get(&day).copied());
        if r != u {
            let Ok(utc_day) = UtcDay::from_epoch_days(day) else {
                continue;
            };
            drift.push(RollupDrift {
                user,
                day: utc_day,
                rows: r.and_then(|v| day_totals(day, v)),
                rollup: u.and_then(|v| day_totals(day, v)),
            });
        }
    }
    Ok(drift)
}

#[async_trait]
impl DailyRollups for SqliteStore {
    fn kept(&self) -> bool {
        true
    }

    async fn users_after(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserId>, StoreError> {
        let after = after.map_or_else(Vec::new, |u| u.object_id().bytes().to_vec());
        self.readers
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT user_id FROM transactions WHERE user_id > ?1 \
                     UNION SELECT user_id FROM daily_totals WHERE user_id > ?1 \
                     ORDER BY user_id LIMIT ?2",
                )?
                .query_map(rusqlite::params![after, limit], |row| {
                    object_id(row.get(0)?).map(UserId::new)
                })?
                .collect()
            })
            .await
    }

    async fn check_user(&self, user: UserId, repair: bool) -> Result<Vec<RollupDrift>, StoreError> {
        if !repair {
            return self.readers.run(move |conn| drift(conn, user)).await;
        }
        // On the writer: the check and the rebuild are one transaction, so no write of
        // the user can fall between them.
        self.writer
            .run(move |conn| {
                let found = drift(conn, user)?;
                if !found.is_empty() {
                    let bytes = user.object_id().bytes();
                    conn.prepare_cached("DELETE FROM daily_totals WHERE user_id = ?1")?
                        .execute([bytes])?;
                    conn.prepare_cached(&format!(
                        "INSERT INTO daily_totals \
                         (day, count, credit_hi, credit_lo, debit_hi, debit_lo, user_id) \
                         SELECT *, :user FROM ({FROM_ROWS})"
                    ))?
                    .execute(rusqlite::named_params! {
                        ":user": bytes, ":day": MS_PER_DAY, ":split": SPLIT
                    })?;
                }
                Ok(found)
            })
            .await
    }
}
