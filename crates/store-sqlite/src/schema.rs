//! The schema and its migrations, versioned by `PRAGMA user_version`.
//!
//! Migrations only ever append: version N is the N-th entry of [`MIGRATIONS`]. Each runs in
//! its own transaction together with the version bump, so a crash mid-migration leaves the
//! previous version intact.

use fido_domain::StoreError;
use rusqlite::Connection;

use crate::errors::map_error;

const MIGRATIONS: &[&str] = &[
    // 1: the transactions table. Ids are the 12 ObjectId bytes; money is integer cents;
    // times are milliseconds since the epoch (UTC). The index serves the list query
    // (equality on user, order by date and id descending) and covers the statistics query.
    "CREATE TABLE transactions (
        id               BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 12),
        user_id          BLOB    NOT NULL CHECK (length(user_id) = 12),
        full_name        TEXT    NOT NULL,
        amount_cents     INTEGER NOT NULL CHECK (amount_cents BETWEEN 0 AND 100000000000000),
        kind             TEXT    NOT NULL CHECK (kind IN ('credit', 'debit')),
        transaction_date INTEGER NOT NULL,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL
    );
    CREATE INDEX transactions_by_user_date
        ON transactions (user_id, transaction_date DESC, id DESC, kind, amount_cents);",
    // 2: optimistic concurrency. Every record starts at version 1; each update adds one.
    "ALTER TABLE transactions ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);",
    // 3: idempotency keys of creates, per caller. `snapshot` (the encrypted result) is
    // NULL while the claim is pending.
    "CREATE TABLE idempotency_keys (
        scope          TEXT    NOT NULL,
        key            TEXT    NOT NULL,
        fingerprint    TEXT    NOT NULL,
        transaction_id BLOB    NOT NULL CHECK (length(transaction_id) = 12),
        snapshot       TEXT,
        lease_until    INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
    );
    CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);",
    // 4: per-user, per-UTC-day totals (count, and the credit and debit sums in two parts,
    // billions of cents and the rest, like every sum here), kept by triggers in the very
    // transaction of each write, so no reader can see a transaction without its roll-up
    // or the reverse. Built from the existing rows in the same migration transaction: a
    // crash during it leaves version 3, and the next start builds it again.
    "CREATE TABLE daily_totals (
        user_id   BLOB    NOT NULL,
        day       INTEGER NOT NULL,
        count     INTEGER NOT NULL CHECK (count >= 0),
        credit_hi INTEGER NOT NULL,
        credit_lo INTEGER NOT NULL,
        debit_hi  INTEGER NOT NULL,
        debit_lo  INTEGER NOT NULL,
        PRIMARY KEY (user_id, day)
    ) WITHOUT ROWID;
    CREATE TRIGGER daily_totals_on_insert AFTER INSERT ON transactions BEGIN
      INSERT INTO daily_totals (user_id, day, count, credit_hi, credit_lo, debit_hi, debit_lo)
        VALUES (NEW.user_id, ((NEW.transaction_date - (((NEW.transaction_date % 86400000) + 86400000) % 86400000)) / 86400000), 1, CASE WHEN NEW.kind = 'credit' THEN NEW.amount_cents / 1000000000 ELSE 0 END, CASE WHEN NEW.kind = 'credit' THEN NEW.amount_cents % 1000000000 ELSE 0 END, CASE WHEN NEW.kind = 'debit' THEN NEW.amount_cents / 1000000000 ELSE 0 END, CASE WHEN NEW.kind = 'debit' THEN NEW.amount_cents % 1000000000 ELSE 0 END)
        ON CONFLICT (user_id, day) DO UPDATE SET count = count + 1,
          credit_hi = credit_hi + excluded.credit_hi, credit_lo = credit_lo + excluded.credit_lo,
          debit_hi = debit_hi + excluded.debit_hi, debit_lo = debit_lo + excluded.debit_lo;
    END;
    CREATE TRIGGER daily_totals_on_delete AFTER DELETE ON transactions BEGIN
      UPDATE daily_totals SET count = count - 1,
          credit_hi = credit_hi - (CASE WHEN OLD.kind = 'credit' THEN OLD.amount_cents / 1000000000 ELSE 0 END), credit_lo = credit_lo - (CASE WHEN OLD.kind = 'credit' THEN OLD.amount_cents % 1000000000 ELSE 0 END),
          debit_hi = debit_hi - (CASE WHEN OLD.kind = 'debit' THEN OLD.amount_cents / 1000000000 ELSE 0 END), debit_lo = debit_lo - (CASE WHEN OLD.kind = 'debit' THEN OLD.amount_cents % 1000000000 ELSE 0 END)
        WHERE user_id = OLD.user_id AND day = ((OLD.transaction_date - (((OLD.transaction_date % 86400000) + 86400000) % 86400000)) / 86400000);
      DELETE FROM daily_totals WHERE user_id = OLD.user_id AND day = ((OLD.transaction_date - (((OLD.transaction_date % 86400000) + 86400000) % 86400000)) / 86400000) AND count = 0;
    END;
    CREATE TRIGGER daily_totals_on_update
    AFTER UPDATE OF user_id, amount_cents, kind, transaction_date ON transactions BEGIN
      UPDATE daily_totals SET count = count - 1,
          credit_hi = credit_hi - (CASE WHEN OLD.kind = 'credit' THEN OLD.amount_cents / 1000000000 ELSE 0 END), credit_lo = credit_lo - (CASE WHEN OLD.kind = 'credit' THEN OLD.amount_cents % 1000000000 ELSE 0 END),
          debit_hi = debit_hi - (CASE WHEN OLD.kind = 'debit' THEN OLD.amount_cents / 1000000000 ELSE 0 END), debit_lo = debit_lo - (CASE WHEN OLD.kind = 'debit' THEN OLD.amount_cents % 1000000000 ELSE 0 END)
        WHERE user_id = OLD.user_id AND day = ((OLD.transaction_date - (((OLD.transaction_date % 86400000) + 86400000) % 86400000)) / 86400000);
      DELETE FROM daily_totals WHERE user_id = OLD.user_id AND day = ((OLD.transaction_date - (((OLD.transaction_date % 86400000) + 86400000) % 86400000)) / 86400000) AND count = 0;
      INSERT INTO daily_totals (user_id, day, count, credit_hi, credit_lo, debit_hi, debit_lo)
        VALUES (NEW.user_id, ((NEW.transaction_date - (((NEW.transaction_date % 86400000) + 86400000) % 86400000)) / 86400000), 1, CASE WHEN NEW.kind = 'credit' THEN NEW.amount_cents / 1000000000 ELSE 0 END, CASE WHEN NEW.kind = 'credit' THEN NEW.amount_cents % 1000000000 ELSE 0 END, CASE WHEN NEW.kind = 'debit' THEN NEW.amount_cents / 1000000000 ELSE 0 END, CASE WHEN NEW.kind = 'debit' THEN NEW.amount_cents % 1000000000 ELSE 0 END)
        ON CONFLICT (user_id, day) DO UPDATE SET count = count + 1,
          credit_hi = credit_hi + excluded.credit_hi, credit_lo = credit_lo + excluded.credit_lo,
          debit_hi = debit_hi + excluded.debit_hi, debit_lo = debit_lo + excluded.debit_lo;
    END;
    INSERT INTO daily_totals (user_id, day, count, credit_hi, credit_lo, debit_hi, debit_lo)
      SELECT user_id, ((transaction_date - (((transaction_date % 86400000) + 86400000) % 86400000)) / 86400000), count(*),
             sum(CASE WHEN kind = 'credit' THEN amount_cents / 1000000000 ELSE 0 END), sum(CASE WHEN kind = 'credit' THEN amount_cents % 1000000000 ELSE 0 END), sum(CASE WHEN kind = 'debit' THEN amount_cents / 1000000000 ELSE 0 END), sum(CASE WHEN kind = 'debit' THEN amount_cents % 1000000000 ELSE 0 END)
      FROM transactions GROUP BY user_id, ((transaction_date - (((transaction_date % 86400000) + 86400000) % 86400000)) / 86400000);",
    // 5: the transactional outbox. Each change to a transaction writes its event here in
    // the same transaction (when events are on); `sequence` is AUTOINCREMENT, so it grows
    // with every commit and is never reused after retention removes rows. The transaction's
    // id, user, date and creation time never change, so they are stored once; the fields an
    // update can change are stored as they were (`before_*`) and as they are (`after_*`).
    // No name: events carry no personal data. Publishers' cursors, the events they gave up
    // on, the relay's lease and the retention mark live beside it.
    "CREATE TABLE events (
        sequence         INTEGER PRIMARY KEY AUTOINCREMENT,
        id               BLOB    NOT NULL UNIQUE CHECK (length(id) = 16),
        kind             TEXT    NOT NULL,
        occurred_at      INTEGER NOT NULL,
        transaction_id   BLOB    NOT NULL CHECK (length(transaction_id) = 12),
        user_id          BLOB    NOT NULL CHECK (length(user_id) = 12),
        transaction_date INTEGER NOT NULL,
        created_at       INTEGER NOT NULL,
        changed          TEXT    NOT NULL DEFAULT '',
        after_amount     INTEGER, after_kind TEXT, after_updated INTEGER, after_version INTEGER,
        before_amount    INTEGER, before_kind TEXT, before_updated INTEGER, before_version INTEGER
    );
    CREATE TABLE event_cursors (
        publisher         TEXT    NOT NULL PRIMARY KEY,
        delivered_through INTEGER NOT NULL,
        attempts          INTEGER NOT NULL DEFAULT 0,
        first_failure_at  INTEGER,
        next_attempt_at   INTEGER,
        last_error        TEXT
    );
    CREATE TABLE event_failures (
        publisher  TEXT    NOT NULL,
        sequence   INTEGER NOT NULL,
        attempts   INTEGER NOT NULL,
        failed_at  INTEGER NOT NULL,
        last_error TEXT    NOT NULL,
        PRIMARY KEY (publisher, sequence)
    );
    CREATE TABLE leases (
        name       TEXT    NOT NULL PRIMARY KEY,
        holder     TEXT    NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE event_meta (
        key   TEXT    NOT NULL PRIMARY KEY,
        value INTEGER NOT NULL
    );
    INSERT INTO event_meta (key, value) VALUES ('pruned_through', 0);",
    // 6: deployment-wide switches every instance reads (the write pause: `since` in
    // milliseconds and the operator's reason).
    "CREATE TABLE switches (
        name   TEXT    NOT NULL PRIMARY KEY,
        since  INTEGER NOT NULL,
        reason TEXT    NOT NULL
    );",
    // 7: the permanent history, one row per version, written with the change: the record
    // as the change left it (NULL for a create's version, whose values are the row it
    // created until the next version's `before_*` keeps them: see `history.rs`), and for
    // an update the record before (`before_*`, NULL otherwise), in the transactions' own
    // column forms (names stay cipher tokens). No index besides the key: a version costs
    // one B-tree insert (retention scans in key order, decision 0026).
    "CREATE TABLE history (
        transaction_id   BLOB    NOT NULL,
        version          INTEGER NOT NULL,
        at               INTEGER NOT NULL,
        actor            TEXT    NOT NULL,
        action           TEXT    NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
        user_id          BLOB    NOT NULL,
        full_name        TEXT,
        amount_cents     INTEGER,
        kind             TEXT,
        transaction_date INTEGER,
        created_at       INTEGER,
        updated_at       INTEGER,
        record_version   INTEGER,
        before_user_id   BLOB,
        before_full_name TEXT,
        before_amount    INTEGER,
        before_kind      TEXT,
        before_date      INTEGER,
        before_created   INTEGER,
        before_updated   INTEGER,
        before_version   INTEGER,
        PRIMARY KEY (transaction_id, version)
    ) WITHOUT ROWID;",
];

/// The schema version this binary writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

pub(crate) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let current: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(map_error)?;
    if current > LATEST {
        return Err(StoreError::Internal(format!(
            "the database has schema version {current}, newer than this binary's {LATEST}; \
             upgrade the service"
        )));
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).map_err(|_| {
            StoreError::Internal(format!(
                "the database has an invalid schema version {current}"
            ))
        })?)
    {
        let version = index + 1;
        let batch = format!("BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {version}; COMMIT;");
        if let Err(e) = conn.execute_batch(&batch) {
            // Leave no half-applied migration behind.
            let _ = conn.execute_batch("ROLLBACK");
            return Err(map_error(e));
        }
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
