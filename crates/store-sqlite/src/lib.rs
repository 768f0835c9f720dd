//! # fido-store-sqlite — the embedded store (the default)
//!
//! Implements the domain's [`TransactionStore`] and [`StatisticsQuery`] ports on one SQLite
//! file (`./data/fido.db` by default), so the service runs with no server to install.
//!
//! - **Off the async runtime**: reads run on tokio's blocking pool, on one of several reader
//!   connections (WAL lets them run alongside the writer), waiting for a free one in an
//!   async semaphore; writes go to the one writer connection on its own thread.
//! - **Durable, with group commit**: WAL journal, `synchronous = FULL` by default (a commit
//!   survives power loss). Writes that arrive while a commit is under way share the next
//!   one (one fsync for the batch), each in its own savepoint; a write returns only once
//!   its batch has committed (see `writer.rs`).
//! - **Schema** created and migrated at open, versioned by `PRAGMA user_version`.
//! - **Statistics in SQL**: one statement computes count, exact per-type sums and the
//!   busiest UTC day over the `(user_id, transaction_date, id, kind, amount_cents)` index,
//!   which also serves the list query.

mod events;
mod listing;
mod pool;
mod private;
mod rollups;
mod schema;
mod switches;
mod transfer;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use fido_domain::{
    Amount, Claim, ClaimRequest, ClaimStep, DateRange, DayTotals, EncryptedName, HeldClaim,
    IdempotencyKey, IdempotencyStore, ListFilter, ListQuery, MoneySum, ObjectId, OutboxEvent, Page,
    Position, RecordPatch, SealedKey, StatisticsQuery, StoreError, Timestamp, TransactionId,
    TransactionRecord, TransactionStore, TransactionTotals, TransactionType, UserId, Window,
    Written,
};
use rusqlite::{named_params, Connection, OptionalExtension, Row};

use crate::pool::Pool;
use crate::writer::Writer;

/// How a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = FULL`: every commit is on disk before it returns (default).
    #[default]
    Full,
    /// `synchronous = NORMAL`: commits survive a crash of the process, but the last ones
    /// may be lost on power failure. Much faster on slow disks.
    Normal,
}

/// Settings of the embedded store.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// The database file; its folder is created if missing.
    pub path: PathBuf,
    /// How many reader connections (default 4).
    pub readers: usize,
    /// Commit durability.
    pub durability: Durability,
    /// Whether each change also writes its event to the outbox (default on).
    pub events: bool,
}

/// A setting of the embedded store that is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The number of reader connections.
    #[error("store.sqlite_readers must be between 1 and 64")]
    Readers,
}

impl SqliteConfig {
    /// Checks this adapter's rules, naming the first one broken.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=64).contains(&self.readers) {
            return Err(ConfigError::Readers);
        }
        Ok(())
    }

    /// Defaults for a file path.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            readers: 4,
            durability: Durability::Full,
            events: true,
        }
    }
}

/// The SQLite store. Cheap to clone; clones share the connections.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: Arc<Writer>,
    readers: Arc<Pool>,
    path: PathBuf,
    events: bool,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database.
    pub async fn open(config: SqliteConfig) -> Result<Self, StoreError> {
        let path = config.path.clone();
        let events = config.events;
        tokio::task::spawn_blocking(move || Self::open_blocking(&config))
            .await
            .map_err(|e| StoreError::Internal(format!("open task failed: {e}")))?
            .map(|(writer, readers)| Self {
                writer: Arc::new(writer),
                readers: Arc::new(readers),
                path,
                events,
            })
    }

    fn open_blocking(config: &SqliteConfig) -> Result<(Writer, Pool), StoreError> {
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private::create_dir(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        private::prepare_database_file(&config.path).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", config.path.display()))
        })?;
        let writer = connect(&config.path, config.durability)?;
        schema::migrate(&writer)?;
        let readers = (0..config.readers.max(1))
            .map(|_| connect(&config.path, config.durability))
            .collect::<Result<Vec<_>, _>>()?;
        let writer = Writer::start(writer)
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok((writer, Pool::new(readers)))
    }

    /// Signalled after each commit of this process's writes (so the event relay in the
    /// same process can deliver at once instead of waiting for its next poll).
    pub fn commits(&self) -> Arc<tokio::sync::Notify> {
        self.writer.commits()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn connect(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(map_error)?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {synchronous};
         PRAGMA busy_timeout = 5000;
         PRAGMA foreign_keys = ON;"
    ))
    .map_err(map_error)?;
    Ok(conn)
}

/// Maps SQLite's errors onto the port's contract: a locked, full, unreadable or missing
/// database is `Unavailable` (transient, 503); everything else is `Internal`.
pub(crate) fn map_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            C::DatabaseBusy
            | C::DatabaseLocked
            | C::CannotOpen
            | C::SystemIoFailure
            | C::DiskFull
            | C::ReadOnly
            | C::OutOfMemory => StoreError::Unavailable(e.to_string()),
            C::ConstraintViolation
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::Duplicate
            }
            _ => StoreError::Internal(e.to_string()),
        },
        _ => StoreError::Internal(e.to_string()),
    }
}

const COLUMNS: &str =
    "id, user_id, full_name, amount_cents, kind, transaction_date, created_at, updated_at, version";

fn object_id(bytes: Vec<u8>) -> rusqlite::Result<ObjectId> {
    let arr: [u8; 12] = bytes.try_into().map_err(|b: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            b.len(),
            rusqlite::types::Type::Blob,
            "an id is not 12 bytes".into(),
        )
    })?;
    Ok(ObjectId::from_bytes(arr))
}

fn conversion(column: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Integer,
        format!("invalid {what} in the database").into(),
    )
}

fn timestamp(row: &Row<'_>, column: usize) -> rusqlite::Result<Timestamp> {
    Timestamp::from_millis(row.get(column)?).map_err(|_| conversion(column, "timestamp"))
}

fn read_record(row: &Row<'_>) -> rusqlite::Result<TransactionRecord> {
    let kind: String = row.get(4)?;
    let cents: i64 = row.get(3)?;
    Ok(TransactionRecord {
        id: TransactionId::new(object_id(row.get(0)?)?),
        user_id: UserId::new(object_id(row.get(1)?)?),
        full_name: EncryptedName::new(row.get::<_, String>(2)?),
        amount: u64::try_from(cents)
            .ok()
            .and_then(|c| Amount::from_cents(c).ok())
            .ok_or_else(|| conversion(3, "amount"))?,
        kind: kind
            .parse::<TransactionType>()
            .map_err(|_| conversion(4, "transaction type"))?,
        transaction_date: timestamp(row, 5)?,
        created_at: timestamp(row, 6)?,
        updated_at: timestamp(row, 7)?,
        version: u64::try_from(row.get::<_, i64>(8)?).map_err(|_| conversion(8, "version"))?,
    })
}

fn version_param(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

/// A conditional write that touched no row: tells a missing record from a stale version.
/// Runs on the writer connection, so nothing can change in between.
fn outcome(
    conn: &Connection,
    id: TransactionId,
    written: Option<TransactionRecord>,
) -> rusqlite::Result<Written> {
    if let Some(record) = written {
        return Ok(Written::Done(record));
    }
    let exists = conn
        .prepare_cached("SELECT 1 FROM transactions WHERE id = ?1")?
        .query_row([id.object_id().bytes()], |_| Ok(()))
        .optional()?
        .is_some();
    Ok(if exists {
        Written::VersionMismatch
    } else {
        Written::NotFound
    })
}

/// How [`write_record`] treats a row whose id is taken.
#[derive(Clone, Copy)]
enum OnTaken {
    /// Fail with a constraint violation (a create).
    Refuse,
    /// Update the row in place (transfers). An update, not `INSERT OR REPLACE`: a replace
    /// deletes without firing the delete trigger (recursive triggers are off), which would
    /// count the old row in the roll-ups for ever; the update trigger moves them exactly.
    Update,
}

/// Writes a record; `on_taken` says what a taken id does.
fn write_record(
    conn: &Connection,
    on_taken: OnTaken,
    r: &TransactionRecord,
) -> rusqlite::Result<()> {
    let conflict = match on_taken {
        OnTaken::Refuse => "",
        OnTaken::Update => {
            " ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, \
             full_name = excluded.full_name, amount_cents = excluded.amount_cents, \
             kind = excluded.kind, transaction_date = excluded.transaction_date, \
             created_at = excluded.created_at, updated_at = excluded.updated_at, \
             version = excluded.version"
        }
    };
    conn.prepare_cached(&format!(
        "INSERT INTO transactions ({COLUMNS}) VALUES \
         (:id, :user_id, :full_name, :amount, :kind, :date, :created, :updated, :version){conflict}"
    ))?
    .execute(named_params! {
        ":id": r.id.object_id().bytes(),
        ":user_id": r.user_id.object_id().bytes(),
        ":full_name": r.full_name.as_str(),
        ":amount": cents_param(r.amount),
        ":kind": r.kind.as_str(),
        ":date": r.transaction_date.as_millis(),
        ":created": r.created_at.as_millis(),
        ":updated": r.updated_at.as_millis(),
        ":version": version_param(r.version),
    })?;
    Ok(())
}

fn cents_param(amount: Amount) -> i64 {
    // Amount::MAX is 1e14 cents, far below i64::MAX.
    i64::try_from(amount.cents()).unwrap_or(i64::MAX)
}

#[async_trait]
impl TransactionStore for SqliteStore {
    async fn insert(&self, r: TransactionRecord) -> Result<(), StoreError> {
        let with_event = self.events;
        self.writer
            .run(move |conn| {
                write_record(conn, OnTaken::Refuse, &r)?;
                if with_event {
                    events::append(conn, &OutboxEvent::created(&r))?;
                }
                Ok(())
            })
            .await
    }

    async fn get(&self, id: TransactionId) -> Result<Option<TransactionRecord>, StoreError> {
        self.readers
            .run(move |conn| {
                conn.prepare_cached(&format!("SELECT {COLUMNS} FROM transactions WHERE id = ?1"))?
                    .query_row([id.object_id().bytes()], read_record)
                    .optional()
            })
            .await
    }

    async fn update(&self, id: TransactionId, patch: RecordPatch) -> Result<Written, StoreError> {
        let with_event = self.events;
        self.writer
            .run(move |conn| {
                // The record as it was, for the event (same transaction: nothing moves).
                let before = if with_event {
                    conn.prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM transactions WHERE id = ?1"
                    ))?
                    .query_row([id.object_id().bytes()], read_record)
                    .optional()?
                } else {
                    None
                };
                let updated = conn
                    .prepare_cached(&format!(
                        "UPDATE transactions SET \
                           full_name = coalesce(:full_name, full_name), \
                           amount_cents = coalesce(:amount, amount_cents), \
                           kind = coalesce(:kind, kind), \
                           updated_at = :updated, \
                           version = version + 1 \
                         WHERE id = :id AND (:expected IS NULL OR version = :expected) \
                         RETURNING {COLUMNS}"
                    ))?
                    .query_row(
                        named_params! {
                            ":id": id.object_id().bytes(),
                            ":full_name": patch.full_name.as_ref().map(EncryptedName::as_str),
                            ":amount": patch.amount.map(cents_param),
                            ":kind": patch.kind.map(TransactionType::as_str),
                            ":updated": patch.updated_at.as_millis(),
                            ":expected": patch.expected_version.map(version_param),
                        },
                        read_record,
                    )
                    .optional()?;
                if let (Some(before), Some(after)) = (&before, &updated) {
                    events::append(conn, &OutboxEvent::updated(before, after))?;
                }
                outcome(conn, id, updated)
            })
            .await
    }

    async fn delete(
        &self,
        id: TransactionId,
        expected_version: Option<u64>,
        deleted_at: Timestamp,
    ) -> Result<Written, StoreError> {
        let with_event = self.events;
        self.writer
            .run(move |conn| {
                let deleted = conn
                    .prepare_cached(&format!(
                        "DELETE FROM transactions \
                         WHERE id = ?1 AND (?2 IS NULL OR version = ?2) RETURNING {COLUMNS}"
                    ))?
                    .query_row(
                        rusqlite::params![
                            id.object_id().bytes(),
                            expected_version.map(version_param)
                        ],
                        read_record,
                    )
                    .optional()?;
                if let (true, Some(gone)) = (with_event, &deleted) {
                    events::append(conn, &OutboxEvent::deleted(gone, deleted_at))?;
                }
                outcome(conn, id, deleted)
            })
            .await
    }

    async fn list_by_user(
        &self,
        user: UserId,
        query: ListQuery,
    ) -> Result<Page<TransactionRecord>, StoreError> {
        self.readers
            .run(move |conn| {
                // One read transaction, so the count and the page agree.
                let tx = conn.transaction()?;
                let (after, offset) = match query.window {
                    Window::Page(page) => (None, page.offset()),
                    Window::After { after, .. } => (after, 0),
                };
                let matching = listing::Clause::new(user, &query.filter);
                let total = matching.count(&tx)?;
                // One row more than asked: it tells whether a next page exists.
                let rows =
                    matching.rows(&tx, after, u64::from(query.window.limit()) + 1, offset)?;
                tx.commit()?;
                Ok(Page::of_rows(user, &query, total, rows))
            })
            .await
    }

    async fn scan_by_user(
        &self,
        user: UserId,
        filter: ListFilter,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        self.readers
            .run(move |conn| {
                listing::Clause::new(user, &filter).rows(conn, after, u64::from(limit), 0)
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.readers
            .run(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    async fn names_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<(TransactionId, EncryptedName)>, StoreError> {
        self.readers
            .run(move |conn| {
                // The all-zero id sorts before every real one.
                let from = after.map_or([0u8; 12], |id| id.object_id().bytes());
                let inclusive = after.is_none();
                conn.prepare_cached(
                    "SELECT id, full_name FROM transactions \
                     WHERE id > ?1 OR (?2 AND id = ?1) ORDER BY id LIMIT ?3",
                )?
                .query_map(
                    rusqlite::params![from, inclusive, i64::from(limit)],
                    |row| {
                        Ok((
                            TransactionId::new(object_id(row.get(0)?)?),
                            EncryptedName::new(row.get::<_, String>(1)?),
                        ))
                    },
                )?
                .collect()
            })
            .await
    }

    async fn replace_name(
        &self,
        id: TransactionId,
        expected: EncryptedName,
        new: EncryptedName,
    ) -> Result<bool, StoreError> {
        self.writer
            .run(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE transactions SET full_name = ?3 WHERE id = ?1 AND full_name = ?2",
                    )?
                    .execute(rusqlite::params![
                        id.object_id().bytes(),
                        expected.as_str(),
                        new.as_str()
                    ])?;
                Ok(changed == 1)
            })
            .await
    }
}

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
const SPLIT: i64 = 1_000_000_000;

/// A sum from its two parts.
fn money(hi: i64, lo: i64) -> MoneySum {
    MoneySum::from_cents(i128::from(hi) * i128::from(SPLIT) + i128::from(lo))
}
use fido_domain::MS_PER_DAY;

/// The parameters of [`DAYS`] for a user's range.
struct DayParams {
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
const DAYS: &str = concat!(
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

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim(&self, r: ClaimRequest) -> Result<Claim, StoreError> {
        self.writer
            .run(move |conn| {
                // Writes run one at a time on the writer thread, each in its own
                // savepoint of the batch's transaction: the read-then-write below is atomic.
                let tx = conn;
                tx.prepare_cached("DELETE FROM idempotency_keys WHERE expires_at <= ?1")?
                    .execute([r.now.as_millis()])?;
                let held = tx
                    .prepare_cached(
                        "SELECT fingerprint, transaction_id, snapshot, lease_until, expires_at \
                         FROM idempotency_keys WHERE scope = ?1 AND key = ?2",
                    )?
                    .query_row(rusqlite::params![r.scope, r.key.as_str()], |row| {
                        let time = |i: usize, what: &'static str| {
                            Timestamp::from_millis(row.get::<_, i64>(i)?)
                                .map_err(|_| conversion(i, what))
                        };
                        Ok(HeldClaim {
                            fingerprint: row.get(0)?,
                            transaction_id: TransactionId::new(object_id(row.get(1)?)?),
                            snapshot: row.get(2)?,
                            lease_until: time(3, "lease")?,
                            expires_at: time(4, "expiry")?,
                        })
                    })
                    .optional()?;
                // The decision is the domain's; this savepoint makes read and write one step.
                let claim = match r.decide(held) {
                    ClaimStep::Answer(claim) => claim,
                    ClaimStep::TakeOver(claim) => {
                        tx.prepare_cached(
                            "UPDATE idempotency_keys SET lease_until = ?3 WHERE scope = ?1 AND key = ?2",
                        )?
                        .execute(rusqlite::params![r.scope, r.key.as_str(), r.lease_until.as_millis()])?;
                        claim
                    }
                    ClaimStep::Hold => {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO idempotency_keys \
                             (scope, key, fingerprint, transaction_id, snapshot, lease_until, expires_at) \
                             VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6)",
                        )?
                        .execute(rusqlite::params![
                            r.scope,
                            r.key.as_str(),
                            r.fingerprint,
                            r.candidate_id.object_id().bytes(),
                            r.lease_until.as_millis(),
                            r.expires_at.as_millis()
                        ])?;
                        r.acquired()
                    }
                };
                Ok(claim)
            })
            .await
    }

    async fn complete(
        &self,
        scope: String,
        key: IdempotencyKey,
        snapshot: String,
    ) -> Result<(), StoreError> {
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE idempotency_keys SET snapshot = ?3 WHERE scope = ?1 AND key = ?2",
                )?
                .execute(rusqlite::params![scope, key.as_str(), snapshot])?;
                Ok(())
            })
            .await
    }

    async fn release(&self, scope: String, key: IdempotencyKey) -> Result<(), StoreError> {
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "DELETE FROM idempotency_keys WHERE scope = ?1 AND key = ?2 AND snapshot IS NULL",
                )?
                .execute(rusqlite::params![scope, key.as_str()])?;
                Ok(())
            })
            .await
    }

    async fn sealed_after(
        &self,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<SealedKey>, StoreError> {
        self.readers
            .run(move |conn| {
                let from_start = after.is_none();
                let (scope, key) = after.unwrap_or_default();
                // `(scope, key) > (?1, ?2)`, or everything when there is no cursor.
                conn.prepare_cached(
                    "SELECT scope, key, fingerprint, snapshot FROM idempotency_keys \
                     WHERE ?3 OR scope > ?1 OR (scope = ?1 AND key > ?2) \
                     ORDER BY scope, key LIMIT ?4",
                )?
                .query_map(rusqlite::params![scope, key, from_start, limit], |row| {
                    Ok(SealedKey {
                        scope: row.get(0)?,
                        key: row.get(1)?,
                        fingerprint: row.get(2)?,
                        snapshot: row.get(3)?,
                    })
                })?
                .collect()
            })
            .await
    }

    async fn replace_sealed(
        &self,
        expected: SealedKey,
        new: SealedKey,
    ) -> Result<bool, StoreError> {
        self.writer
            .run(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE idempotency_keys SET fingerprint = ?5, snapshot = ?6 \
                         WHERE scope = ?1 AND key = ?2 AND fingerprint = ?3 AND snapshot IS ?4",
                    )?
                    .execute(rusqlite::params![
                        expected.scope,
                        expected.key,
                        expected.fingerprint,
                        expected.snapshot,
                        new.fingerprint,
                        new.snapshot
                    ])?;
                Ok(changed == 1)
            })
            .await
    }
}
