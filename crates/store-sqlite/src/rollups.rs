//! The daily roll-ups seen from outside: checked against the rows and repaired, one user
//! at a time (the triggers of schema version 4 keep them; see `schema.rs`).

use async_trait::async_trait;
use fido_domain::{DailyRollups, DayTotals, RollupDrift, StoreError, UserId, UtcDay};
use rusqlite::Connection;

use fido_domain::MS_PER_DAY;

use crate::errors::conversion;
use crate::rows::object_id;
use crate::statistics::{day_columns, money, SPLIT};
use crate::SqliteStore;

/// Day rows (`d, n, ch, cl, dh, dl`), as a query returns them.
pub(crate) fn day_rows(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<DayTotals>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| {
        Ok(DayTotals {
            day: UtcDay::from_epoch_days(row.get(0)?).map_err(|_| conversion(0, "day"))?,
            count: u64::try_from(row.get::<_, i64>(1)?).map_err(|_| conversion(1, "count"))?,
            credit: money(row.get(2)?, row.get(3)?),
            debit: money(row.get(4)?, row.get(5)?),
        })
    })?;
    rows.collect()
}

const FROM_ROWS: &str = concat!(
    "SELECT ",
    day_columns!(),
    " FROM transactions WHERE user_id = :user GROUP BY d"
);

const FROM_ROLLUPS: &str = "SELECT day, count, credit_hi, credit_lo, debit_hi, debit_lo \
     FROM daily_totals WHERE user_id = ?1";

/// The days where the roll-ups differ from the rows.
fn drift(conn: &Connection, user: UserId) -> rusqlite::Result<Vec<RollupDrift>> {
    let bytes = user.object_id().bytes();
    let rows = day_rows(
        conn,
        FROM_ROWS,
        rusqlite::named_params! {":user": bytes, ":day": MS_PER_DAY, ":split": SPLIT},
    )?;
    let rollups = day_rows(conn, FROM_ROLLUPS, [bytes])?;
    Ok(RollupDrift::between(user, &rows, &rollups))
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
