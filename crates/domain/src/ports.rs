//! Ports: the traits through which the core reaches the outside world.
//!
//! Every port is `Send + Sync` and object-safe, so the app can choose adapters at run time
//! (`Arc<dyn TransactionStore>`). Each method documents its error contract: what an adapter
//! MUST return in which situation. The service relies on these contracts and nothing else,
//! and the testkit's contract suites check them for every adapter.
//!
//! With the `mocks` feature (and in this crate's own tests) mockall generates
//! `MockTransactionStore`, `MockStatisticsQuery`, `MockIdempotencyStore`,
//! `MockDailyRollups`, `MockEventLog`, `MockEventPublisher`, `MockCache`, `MockFieldCipher`,
//! `MockReadEncoder` and `MockClock`.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::cache_key::{CacheKey, CacheLookup, CacheSlot};
use crate::events::{
    Backlog, CursorSave, EventPage, FailedDelivery, OutboxEvent, PublisherCursor, StoredEvent,
};
use crate::id::{TransactionId, UserId};
use crate::idempotency::{Claim, ClaimRequest, IdempotencyKey, IdempotencyRecord, SealedKey};
use crate::name::EncryptedName;
use crate::page::Page;
use crate::query::{ListFilter, ListQuery, Position};
use crate::statistics::{DayTotals, Series, StatisticsSummary, TransactionTotals};
use crate::time::{DateRange, Timestamp};
use crate::transaction::{RecordPatch, Transaction, TransactionRecord, Written};

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached (connection refused, timeout, no server selected).
    /// Transient: the same call may succeed later (the service reports
    /// [`DomainError::StoreUnavailable`](crate::DomainError::StoreUnavailable)).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A record with this id already exists.
    #[error("a record with this id already exists")]
    Duplicate,
    /// The database holds data in an older layout that this version does not read (the
    /// original service's documents): nothing is read or written until `fido migrate`
    /// has converted it. Never a wrong answer, never a 500.
    #[error("migration required: {0}")]
    MigrationRequired(String),
    /// What the call needs includes documents `fido migrate` could not convert and set
    /// aside (its report lists them): refused whole, never answered without them. Other
    /// users' data is served as usual.
    #[error("{documents} document(s) set aside by the migration")]
    Quarantined {
        /// How many of the documents the call needs were set aside.
        documents: u64,
    },
    /// Anything else (corrupt row, schema mismatch, driver bug): an internal error.
    #[error("store failure: {0}")]
    Internal(String),
}

/// Why a cache call failed. Callers treat every cache error as a miss: the cache is an
/// optimisation, never a source of truth.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The cache did not answer in time, or not at all.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
}

/// Why a cipher call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// The token is corrupt, was tampered with, or was made with a key this cipher does
    /// not hold. The message never contains key material or plaintext.
    #[error("the token cannot be decrypted with the configured keys")]
    InvalidToken,
    /// The cipher could not work at all (for example no randomness for an IV).
    #[error("cipher failure: {0}")]
    Internal(String),
}

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
}

/// A pause of every write, deployment-wide: while it holds, creates, updates and deletes
/// are refused on every instance sharing the store (reads go on). Set by an operator for a
/// live move's switch-over (`fido writes pause`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePause {
    /// When it was set.
    pub since: Timestamp,
    /// Why, in the operator's words (shown in logs and status, never to API callers).
    pub reason: String,
}

/// The deployment-wide switch that pauses writes, kept in the store every instance shares
/// (so a pause reaches them all without a restart: each reads it about every half second).
///
/// Contract: what [`set_write_pause`](Self::set_write_pause) stores is what
/// [`write_pause`](Self::write_pause) then returns, to every client of the store; `None`
/// clears it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WriteSwitch: Send + Sync {
    /// The pause in force, if any.
    async fn write_pause(&self) -> Result<Option<WritePause>, StoreError>;

    /// Sets the pause, or with `None` lifts it.
    async fn set_write_pause(&self, pause: Option<WritePause>) -> Result<(), StoreError>;
}

/// Durable storage of transaction records.
///
/// Contract, for every adapter:
/// - Every method is atomic: a failed call changes nothing.
/// - Unreachable storage → [`StoreError::Unavailable`], within the adapter's configured
///   timeouts (never a hang).
/// - Listing order is `transaction_date` descending, then `id` descending.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TransactionStore: Send + Sync {
    /// Stores a new record (its `version` is 1). MUST return [`StoreError::Duplicate`]
    /// when its id exists.
    async fn insert(&self, record: TransactionRecord) -> Result<(), StoreError>;

    /// The record with this id, or `None`.
    async fn get(&self, id: TransactionId) -> Result<Option<TransactionRecord>, StoreError>;

    /// Applies `patch` in one atomic step: only the fields it sets, plus `updated_at`, and
    /// `version + 1`; only if the record is at `patch.expected_version` when one is given.
    /// Concurrent updates of different fields therefore never lose each other's changes.
    async fn update(&self, id: TransactionId, patch: RecordPatch) -> Result<Written, StoreError>;

    /// Removes the record (only if it is at `expected_version`, when given) and returns it
    /// as it was. `deleted_at` is the time of the removal (from the domain's clock, like an
    /// update's `updated_at`): its `transaction.deleted` event occurred then.
    async fn delete(
        &self,
        id: TransactionId,
        expected_version: Option<u64>,
        deleted_at: Timestamp,
    ) -> Result<Written, StoreError>;

    /// One page of the user's records that match `query.filter`, newest first, with the
    /// total count of the matching records, read consistently (one snapshot), and the
    /// cursor of the next page when more match (build it with [`Page::of_rows`] from
    /// `limit + 1` rows). [`Window::After`](crate::Window::After) MUST be a keyset read
    /// (rows strictly after the position in the listing order, no skipping), so that its
    /// cost does not grow with the depth. A user without records gets an empty page with
    /// `total == 0`.
    async fn list_by_user(
        &self,
        user: UserId,
        query: ListQuery,
    ) -> Result<Page<TransactionRecord>, StoreError>;

    /// Up to `limit` of the user's records that match `filter`, newest first, strictly
    /// after `after` in the listing order (from the newest when `None`); no count. The
    /// batches of an export: a keyset read, O(limit) at any depth.
    async fn scan_by_user(
        &self,
        user: UserId,
        filter: ListFilter,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError>;

    /// Checks that the store answers (for readiness probes).
    async fn ping(&self) -> Result<(), StoreError>;

    /// How many documents a migration set aside (see [`StoreError::Quarantined`]); 0 for
    /// stores that never hold any (the default).
    async fn quarantined(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// Up to `limit` records' ids and encrypted names, in ascending id order, after `after`
    /// (from the first record when `None`): the batches of a key rotation.
    async fn names_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<(TransactionId, EncryptedName)>, StoreError>;

    /// Replaces a record's encrypted name with `new` only if it is still `expected`
    /// (compare-and-set, so a concurrent update through the API is never overwritten);
    /// `true` when it was replaced. Changes nothing else, not even `updated_at`: the name
    /// is the same, only its encryption changed.
    async fn replace_name(
        &self,
        id: TransactionId,
        expected: EncryptedName,
        new: EncryptedName,
    ) -> Result<bool, StoreError>;
}

/// Durable memory of idempotency keys (usually the same adapter as the transaction store).
///
/// Contract: `claim` is atomic — of any number of concurrent claims of one `(scope, key)`,
/// exactly one is `Acquired` (or `TakenOver`). A record past its `expires_at` counts as
/// absent. A pending claim whose lease has passed is reported as `Lapsed` (with *its*
/// transaction id, fingerprint and lease) and left as it is — unless the request's
/// `take_over` names that very lease: then the lease moves to the new request and the
/// answer is `TakenOver`. Of concurrent take-overs of one lapsed lease, exactly one wins;
/// the others see the claim `InFlight`.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims a key, or reports who has it.
    async fn claim(&self, request: ClaimRequest) -> Result<Claim, StoreError>;

    /// Marks a claimed key as finished, with the encrypted snapshot of the result.
    async fn complete(
        &self,
        scope: String,
        key: IdempotencyKey,
        snapshot: String,
    ) -> Result<(), StoreError>;

    /// Forgets a pending claim (the request failed before writing anything).
    async fn release(&self, scope: String, key: IdempotencyKey) -> Result<(), StoreError>;

    /// Up to `limit` records' encrypted parts, in `(scope, key)` order after `after`
    /// (from the first when `None`): the batches of a key rotation.
    async fn sealed_after(
        &self,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<SealedKey>, StoreError>;

    /// Replaces a record's fingerprint and snapshot with `new`'s only if both are still
    /// `expected`'s (compare-and-set); `true` when replaced. Changes nothing else.
    async fn replace_sealed(&self, expected: SealedKey, new: SealedKey)
        -> Result<bool, StoreError>;
}

/// Statistics computed inside the store, in one query per call.
///
/// Contract: sums are exact; `busiest_day` is the UTC calendar day with the most
/// transactions in the inclusive range, ties to the earliest day; an empty range gives
/// `count == 0` and `busiest_day == None` (not an error).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StatisticsQuery: Send + Sync {
    /// Totals of `user`'s transactions whose `transaction_date` lies in `range`.
    async fn totals(&self, user: UserId, range: DateRange)
        -> Result<TransactionTotals, StoreError>;

    /// The same transactions' totals per UTC day, ascending by day, only days with
    /// transactions (the sums exact, as for `totals`).
    async fn daily(&self, user: UserId, range: DateRange) -> Result<Vec<DayTotals>, StoreError>;
}

/// One (user, day) where the daily roll-up and the rows disagree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RollupDrift {
    /// Whose.
    pub user: UserId,
    /// Which day.
    pub day: crate::time::UtcDay,
    /// What the rows say (`None`: no transaction that day).
    pub rows: Option<DayTotals>,
    /// What the roll-up says (`None`: no roll-up for that day).
    pub rollup: Option<DayTotals>,
}

impl RollupDrift {
    /// Every day where `rollups` differ from `rows` (both one entry per day, any order),
    /// ascending by day.
    pub fn between(user: UserId, rows: &[DayTotals], rollups: &[DayTotals]) -> Vec<Self> {
        let find = |list: &[DayTotals], day| list.iter().find(|d| d.day == day).copied();
        let mut days: Vec<crate::time::UtcDay> =
            rows.iter().chain(rollups).map(|d| d.day).collect();
        days.sort_unstable();
        days.dedup();
        days.into_iter()
            .map(|day| Self {
                user,
                day,
                rows: find(rows, day),
                rollup: find(rollups, day),
            })
            .filter(|d| d.rows != d.rollup)
            .collect()
    }
}

/// The daily roll-ups a store keeps beside the rows, seen from outside: checked against
/// the rows, and repaired, one user at a time (`fido rollups verify`).
///
/// Contract: `check_user` compares every day of the user; with `repair` it makes the
/// roll-ups equal to the rows in one atomic step (concurrent writes are never lost) and
/// still returns what differed. A store that keeps no roll-ups (it computes statistics
/// from the rows) says so with `kept() == false` and never reports drift.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DailyRollups: Send + Sync {
    /// Whether this store keeps daily roll-ups.
    fn kept(&self) -> bool;

    /// Up to `limit` users after `after` (ascending; from the first when `None`) with
    /// transactions or roll-ups: the batches of a check.
    async fn users_after(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserId>, StoreError>;

    /// The days where the user's roll-ups differ from the rows; with `repair`, fixed.
    async fn check_user(&self, user: UserId, repair: bool) -> Result<Vec<RollupDrift>, StoreError>;
}

/// The outbox of a store, seen from outside: the feed, the publishers' cursors, the
/// relay's lease and retention. Usually the same adapter as the [`TransactionStore`], which
/// writes the events (in the transaction of each change) when events are switched on.
///
/// Contract, for every adapter:
/// - Every acknowledged change has exactly one event; a change that failed has none.
/// - Sequences start at 1 and grow by one with each event that enters the feed; a reader
///   that has seen `n` never later sees a new event at or below `n`; one transaction's
///   events enter the feed in the order of its versions.
/// - An event enters the feed either when its change commits (a store with one writer,
///   such as SQLite, numbers it there) or when [`sequence`](Self::sequence) numbers it
///   afterwards (a store whose writers must not share a counter, such as MongoDB). Until
///   then [`backlog`](Self::backlog) counts it as `unsequenced`; the change itself has
///   already succeeded.
/// - A cursor saved with [`save_cursor`](Self::save_cursor) only moves when the caller
///   holds the named lease and the cursor is still where the caller read it
///   (compare-and-set), so two relays never both advance one publisher.
/// - [`prune`](Self::prune) never removes an event above any named publisher's cursor.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Whether this store writes events with its changes.
    fn enabled(&self) -> bool;

    /// Up to `limit` events with sequence above `after`, ascending.
    async fn events_after(&self, after: u64, limit: u32) -> Result<EventPage, StoreError>;

    /// Gives the next sequences to up to `limit` committed events that have none yet, in
    /// the order of their commits (one transaction's events in version order), and
    /// returns how many entered the feed. Safe when several callers race (each event is
    /// numbered once, and a batch is numbered all at once or not at all), though only the
    /// relay holding its lease is meant to call it. Stores that number events at commit
    /// return 0.
    async fn sequence(&self, limit: u32) -> Result<u64, StoreError> {
        let _ = limit;
        Ok(0)
    }

    /// The publisher's cursor; a publisher seen for the first time starts before every
    /// retained event (so it receives what is retained, not only what comes next).
    async fn cursor(&self, publisher: &str) -> Result<PublisherCursor, StoreError>;

    /// Replaces the publisher's cursor with `save.new` if it is still `save.expected` and
    /// `save.holder` holds `save.lease`; records `save.failed` (an event given up on) in
    /// the same step. `true` when saved.
    async fn save_cursor(&self, save: CursorSave) -> Result<bool, StoreError>;

    /// Events some publisher gave up on, ascending by sequence, after `after`.
    async fn failed_deliveries(
        &self,
        publisher: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<FailedDelivery>, StoreError>;

    /// Takes or renews the lease `lease` for `holder` until `now + ttl`: `true` when
    /// `holder` holds it afterwards (it was free, expired, or already `holder`'s).
    async fn acquire_lease(
        &self,
        lease: &str,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up if `holder` holds it (a clean shutdown, so another relay need
    /// not wait for it to expire).
    async fn release_lease(&self, lease: &str, holder: &str) -> Result<(), StoreError>;

    /// Removes events that happened before `before` and that every publisher in
    /// `publishers` has passed; returns how many were removed.
    async fn prune(&self, before: Timestamp, publishers: &[String]) -> Result<u64, StoreError>;

    /// What the named publishers have not yet received.
    async fn backlog(&self, publishers: &[String]) -> Result<Backlog, StoreError>;
}

/// A store's whole contents, read in a stable order and written back as they were: what
/// `fido copy`, `fido export` and `fido import` move between stores.
///
/// Contract: every `*_after` lists in ascending key order from after the given key, so a
/// transfer is batched and resumable; every `put_*` is idempotent (insert, or replace what
/// has the same key) and writes exactly what it is given — no event, no new version, no
/// re-encryption. Whether the store's daily roll-ups follow `put_records` depends on the
/// store (SQLite's triggers keep them; elsewhere the caller repairs them afterwards with
/// [`DailyRollups::check_user`]).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StoreTransfer: Send + Sync {
    /// Up to `limit` records with an id above `after` (from the first when `None`),
    /// ascending by id, exactly as stored (names as their tokens).
    async fn records_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError>;

    /// Writes `records` as they are (replacing any with the same id).
    async fn put_records(&self, records: Vec<TransactionRecord>) -> Result<(), StoreError>;

    /// Removes the records with these ids as they are, writing no event (a copy following
    /// its source's deletions); an id that is not there is not an error. Like
    /// [`put_records`](Self::put_records), it leaves the daily roll-ups to the caller's
    /// repair where the store does not keep them in the same write.
    async fn remove_records(&self, ids: Vec<TransactionId>) -> Result<(), StoreError>;

    /// Writes `records` as changes made now, like the API's writes (`fido import` into a
    /// store that may be served): a record whose id is new is created, one that differs
    /// from the stored record of its id replaces it, an identical one is left alone. Each
    /// creation or replacement writes its row, its day roll-ups and — when the store writes
    /// events — its `transaction.created` or `transaction.updated` event in one atomic
    /// write per batch, so consumers of the feed learn of it and the roll-ups equal the
    /// rows at every commit. Idempotent: the same batch again changes nothing.
    async fn import_records(
        &self,
        records: Vec<TransactionRecord>,
    ) -> Result<ImportCounts, StoreError>;

    /// Up to `limit` idempotency records after `(scope, key)`, in that order.
    async fn idempotency_after(
        &self,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<IdempotencyRecord>, StoreError>;

    /// Writes idempotency records as they are (replacing any with the same scope and key).
    async fn put_idempotency(&self, records: Vec<IdempotencyRecord>) -> Result<(), StoreError>;

    /// Writes events with their sequences (keeping any already there) and moves the
    /// store's marks to at least `last_sequence` and `pruned_through`, so the feed goes on
    /// where the source's left off.
    async fn put_events(
        &self,
        events: Vec<StoredEvent>,
        last_sequence: u64,
        pruned_through: u64,
    ) -> Result<(), StoreError>;

    /// Every publisher's cursor.
    async fn cursors(&self) -> Result<Vec<(String, PublisherCursor)>, StoreError>;

    /// Writes publishers' cursors as they are.
    async fn put_cursors(&self, cursors: Vec<(String, PublisherCursor)>) -> Result<(), StoreError>;
}

/// What [`StoreTransfer::import_records`] did with a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Records whose id was new.
    pub created: u64,
    /// Records that replaced a different stored record.
    pub replaced: u64,
    /// Records equal to what was stored: nothing written.
    pub unchanged: u64,
}

impl ImportCounts {
    /// Counts one record's step.
    pub fn count(&mut self, step: &ImportStep<'_>) {
        match step {
            ImportStep::Create => self.created += 1,
            ImportStep::Replace(_) => self.replaced += 1,
            ImportStep::Unchanged => self.unchanged += 1,
        }
    }

    /// The counts of two batches together.
    pub fn plus(self, other: ImportCounts) -> ImportCounts {
        ImportCounts {
            created: self.created + other.created,
            replaced: self.replaced + other.replaced,
            unchanged: self.unchanged + other.unchanged,
        }
    }
}

/// What importing one record does, decided from the stored record of its id: the rule of
/// [`StoreTransfer::import_records`], written once here; each store only executes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStep<'a> {
    /// The id is new: insert the record, with a `transaction.created` event.
    Create,
    /// The stored record (given) differs: replace it, with a `transaction.updated` event.
    Replace(&'a TransactionRecord),
    /// The stored record is identical: write nothing.
    Unchanged,
}

impl<'a> ImportStep<'a> {
    /// The step for `record` when `held` is the stored record of its id, if any.
    pub fn of(held: Option<&'a TransactionRecord>, record: &TransactionRecord) -> Self {
        match held {
            None => Self::Create,
            Some(held) if held == record => Self::Unchanged,
            Some(held) => Self::Replace(held),
        }
    }

    /// The event the step writes with `record`; `None` when it writes nothing.
    pub fn event(&self, record: &TransactionRecord) -> Option<OutboxEvent> {
        match self {
            Self::Create => Some(OutboxEvent::created(record)),
            Self::Replace(held) => Some(OutboxEvent::updated(held, record)),
            Self::Unchanged => None,
        }
    }
}

/// Why a publisher could not deliver an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PublishError(pub String);

/// What a publisher did with a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOutcome {
    /// How many events from the start of the batch are confirmed delivered.
    pub delivered: usize,
    /// Why the next one was not, if the batch stopped early.
    pub error: Option<PublishError>,
}

/// Somewhere events go: a message broker, a webhook endpoint.
///
/// Contract: [`publish`](Self::publish) delivers the batch in order and reports the
/// longest prefix that is confirmed (by the broker's confirm, the endpoint's 2xx); the
/// relay marks only that prefix delivered and sends the rest again later, so a consumer
/// may receive an event twice (deduplicating by its id) but never miss one.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// A stable name, unique among the publishers (the key of its cursor).
    fn name(&self) -> &str;

    /// How long to keep retrying one event before giving up on it and moving on; `None`
    /// retries for ever (a broker: order and completeness matter more than progress).
    fn retry_horizon(&self) -> Option<Duration>;

    /// At most this many events per call.
    fn max_batch(&self) -> usize;

    /// Delivers `events` in order.
    async fn publish(&self, events: &[StoredEvent]) -> PublishOutcome;

    /// Readies the publisher when the relay starts, before any event: a broker declares
    /// what consumers bind their queues to. A failure is only reported (the first
    /// delivery tries again). The default does nothing.
    async fn prepare(&self) -> Result<(), PublishError> {
        Ok(())
    }

    /// How many sent batches may wait for their confirmation at once (default 1: each
    /// batch is confirmed before the next is sent). A broker whose confirmations lag its
    /// deliveries (RabbitMQ confirms persistent messages after writing them to disk) sends
    /// more while earlier ones are confirmed.
    fn pipeline_depth(&self) -> usize {
        1
    }

    /// Sends `events` in order and returns once they are on their way, with the outcome
    /// still to come: the future resolves like [`publish`](Self::publish) once the
    /// confirmations are in. Batches sent one after another are delivered in that order.
    /// The default publishes and hands back the finished outcome.
    async fn send(&self, events: &[StoredEvent]) -> PendingOutcome {
        let outcome = self.publish(events).await;
        Box::pin(std::future::ready(outcome))
    }
}

/// The outcome of a sent batch, still to be confirmed (see [`EventPublisher::send`]).
pub type PendingOutcome =
    std::pin::Pin<Box<dyn std::future::Future<Output = PublishOutcome> + Send>>;

/// A read-through cache of per-user reads, with O(1) per-user invalidation.
///
/// Contract: after `invalidate_user(u)` returns `Ok`, no lookup of `u` hits a value put
/// before it — for any page, limit or range. An adapter that can fail logs its failures
/// itself, rate-limited; the service treats every error as a miss. A slot from a lookup
/// that happened before an invalidation may still be written, but such a value is never
/// returned afterwards. Every call is bounded in time; a slow or broken cache returns
/// [`CacheError::Unavailable`]. Values are opaque text written by the service.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Cache: Send + Sync {
    /// Looks a key up. A miss hands back the slot to fill.
    async fn lookup(&self, key: &CacheKey) -> Result<CacheLookup, CacheError>;

    /// Stores `value` in `slot` for `ttl`.
    async fn put(&self, slot: &CacheSlot, value: String, ttl: Duration) -> Result<(), CacheError>;

    /// Makes every entry of `user` unreachable, in O(1).
    async fn invalidate_user(&self, user: UserId) -> Result<(), CacheError>;

    /// Checks that the cache answers (for readiness probes).
    async fn ping(&self) -> Result<(), CacheError>;
}

/// Encrypts and decrypts one text field (the customer's name).
///
/// Contract: `decrypt(encrypt(x)) == x`; a token this cipher cannot authenticate →
/// [`CipherError::InvalidToken`]. Errors never carry plaintext or key material.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait FieldCipher: Send + Sync {
    /// Encrypts a plaintext into a token.
    async fn encrypt(&self, plaintext: &str) -> Result<String, CipherError>;

    /// Decrypts a token back into its plaintext.
    async fn decrypt(&self, token: &str) -> Result<String, CipherError>;

    /// A keyed fingerprint of `data` (an HMAC under a key derived from the primary key):
    /// equal data gives equal fingerprints, and a fingerprint reveals nothing about the data
    /// to anyone without the key.
    async fn fingerprint(&self, data: &str) -> Result<String, CipherError>;

    /// Whether `fingerprint` is the fingerprint of `data` under **any** configured key
    /// (so that fingerprints made before a key rotation still match).
    async fn fingerprint_matches(&self, data: &str, fingerprint: &str)
        -> Result<bool, CipherError>;

    /// Re-encrypts a token under the current (primary) key: `Some(new token)` when it was
    /// made with another key, `None` when it already uses the primary key.
    /// [`CipherError::InvalidToken`] when no key opens it.
    async fn reencrypt(&self, token: &str) -> Result<Option<String>, CipherError>;
}

/// The current time. A port so tests can fix it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC with millisecond precision.
    fn now(&self) -> Timestamp;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A cache that holds nothing: every lookup misses and puts are dropped. For running with
/// caching switched off (benchmarks of the store path, debugging).
///
/// Misses still hand out slots, so concurrent identical reads share one store call (single
/// flight), and the slots carry a generation that every write of the user moves on, so a
/// read that arrives after a write never joins a read that began before it. Generations
/// live in a fixed array of counters indexed by a hash of the user: O(1), bounded memory;
/// two users sharing a counter only cost each other an extra store read.
#[derive(Debug)]
pub struct NoCache {
    generations: Box<[AtomicU64]>,
}

/// How many generation counters a [`NoCache`] keeps.
const NO_CACHE_BUCKETS: usize = 4096;

impl Default for NoCache {
    fn default() -> Self {
        Self {
            generations: (0..NO_CACHE_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl NoCache {
    fn counter(&self, user: UserId) -> &AtomicU64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        user.hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % NO_CACHE_BUCKETS as u64).unwrap_or(0);
        &self.generations[index]
    }
}

#[async_trait]
impl Cache for NoCache {
    async fn lookup(&self, key: &CacheKey) -> Result<CacheLookup, CacheError> {
        let generation = self.counter(key.user).load(Ordering::Acquire);
        Ok(CacheLookup::Miss(CacheSlot::new(format!(
            "{}:{generation}:{}",
            key.user,
            key.render()
        ))))
    }

    async fn put(
        &self,
        _slot: &CacheSlot,
        _value: String,
        _ttl: Duration,
    ) -> Result<(), CacheError> {
        Ok(())
    }

    async fn invalidate_user(&self, user: UserId) -> Result<(), CacheError> {
        self.counter(user).fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::PageRequest;

    #[tokio::test]
    async fn no_cache_moves_a_users_slots_on_each_write() {
        let cache = NoCache::default();
        let user = UserId::parse("65e25a6bfb249dcbfbf00b93").unwrap();
        let key = CacheKey::list(user, crate::ListQuery::page(PageRequest::default()));
        let slot = |l: CacheLookup| match l {
            CacheLookup::Miss(s) => s,
            CacheLookup::Hit(_) => panic!("NoCache never hits"),
        };
        let before = slot(cache.lookup(&key).await.unwrap());
        assert_eq!(
            slot(cache.lookup(&key).await.unwrap()),
            before,
            "readers share a slot"
        );
        cache.invalidate_user(user).await.unwrap();
        assert_ne!(
            slot(cache.lookup(&key).await.unwrap()),
            before,
            "a write moves it on"
        );
    }
}
