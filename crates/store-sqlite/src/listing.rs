//! The listing queries: a user's records that pass a filter, newest first, by page number
//! or after a position (keyset), and the count of them.
//!
//! Every form is served by `transactions_by_user_date` (`user_id, transaction_date DESC,
//! id DESC, kind, amount_cents`): equality on the user and the date bounds and the position
//! are a range seek in it, in the listing order (no sort step); the type and amount tests
//! read the index entry itself, so a row that fails them is never fetched from the table.

use fido_domain::{ListFilter, Position, TransactionRecord, UserId};
use rusqlite::types::Value;
use rusqlite::Connection;

use crate::rows::{read_record, COLUMNS};

/// A `WHERE` clause and its parameters.
pub(crate) struct Clause {
    sql: String,
    params: Vec<Value>,
}

impl Clause {
    /// The user's rows that pass `filter`.
    pub(crate) fn new(user: UserId, filter: &ListFilter) -> Self {
        let mut clause = Self {
            sql: "user_id = ?".to_owned(),
            params: vec![Value::Blob(user.object_id().bytes().to_vec())],
        };
        if let Some(kind) = filter.kind() {
            clause.and("kind = ?", [Value::Text(kind.as_str().to_owned())]);
        }
        if let Some(start) = filter.dates().start() {
            clause.and("transaction_date >= ?", [Value::Integer(start.as_millis())]);
        }
        if let Some(end) = filter.dates().end() {
            clause.and("transaction_date <= ?", [Value::Integer(end.as_millis())]);
        }
        if let Some(min) = filter.min_amount() {
            clause.and("amount_cents >= ?", [cents(min.cents())]);
        }
        if let Some(max) = filter.max_amount() {
            clause.and("amount_cents <= ?", [cents(max.cents())]);
        }
        clause
    }

    fn and<const N: usize>(&mut self, sql: &str, params: [Value; N]) {
        self.sql.push_str(" AND ");
        self.sql.push_str(sql);
        self.params.extend(params);
    }

    /// How many rows match.
    pub(crate) fn count(&self, conn: &Connection) -> rusqlite::Result<u64> {
        conn.prepare_cached(&format!(
            "SELECT count(*) FROM transactions WHERE {}",
            self.sql
        ))?
        .query_row(rusqlite::params_from_iter(&self.params), |r| {
            u64::try_from(r.get::<_, i64>(0)?).map_err(|_| crate::errors::conversion(0, "count"))
        })
    }

    /// Up to `limit` matching rows in the listing order, strictly after `after` when
    /// given (a row value comparison: one range seek in the index's order), after
    /// skipping `offset`.
    pub(crate) fn rows(
        &self,
        conn: &Connection,
        after: Option<Position>,
        limit: u64,
        offset: u64,
    ) -> rusqlite::Result<Vec<TransactionRecord>> {
        let mut params = self.params.clone();
        let position = match after {
            Some(after) => {
                params.push(Value::Integer(after.date.as_millis()));
                params.push(Value::Blob(after.id.object_id().bytes().to_vec()));
                " AND (transaction_date, id) < (?, ?)"
            }
            None => "",
        };
        params.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        params.push(Value::Integer(i64::try_from(offset).unwrap_or(i64::MAX)));
        conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM transactions INDEXED BY transactions_by_user_date \
             WHERE {}{position} ORDER BY transaction_date DESC, id DESC LIMIT ? OFFSET ?",
            self.sql
        ))?
        .query_map(rusqlite::params_from_iter(&params), read_record)?
        .collect()
    }
}

fn cents(c: u64) -> Value {
    // Amounts are at most 10^14 cents: always an i64.
    Value::Integer(i64::try_from(c).unwrap_or(i64::MAX))
}
