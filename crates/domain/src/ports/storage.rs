//! Storage ports: the transaction store, idempotency keys, statistics, daily roll-ups,
//! transfers between stores, and the deployment-wide write switch.

use async_trait::async_trait;

use super::events::EventLog;
use crate::error::StoreError;
use crate::events::{OutboxEvent, PublisherCursor, StoredEvent};
use crate::history::{Actor, HistoryEntry};
use crate::id::{TransactionId, UserId};
use crate::idempotency::{Claim, ClaimRequest, IdempotencyKey, IdempotencyRecord, SealedKey};
use crate::name::EncryptedName;
use crate::page::Page;
use crate::query::{ListFilter, ListQuery, Position};
use crate::statistics::{DayTotals, TransactionTotals};
use crate::time::{DateRange, Timestamp};
use crate::transaction::{RecordPatch, TransactionRecord, Written};

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
/// - Every change (insert, update, delete) writes its [`HistoryEntry`] — made by
///   [`HistoryEntry::created`], [`updated`](HistoryEntry::updated) or
///   [`deleted`](HistoryEntry::deleted) with the given actor — in the same atomic write:
///   never a change without its version, never a version without its change.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TransactionStore: Send + Sync {
    /// Stores a new record (its `version` is 1), made by `actor`. MUST return
    /// [`StoreError::Duplicate`] when its id exists.
    async fn insert(&self, record: TransactionRecord, actor: Actor) -> Result<(), StoreError>;

    /// The record with this id, or `None`.
    async fn get(&self, id: TransactionId) -> Result<Option<TransactionRecord>, StoreError>;

    /// Applies `patch` in one atomic step: only the fields it sets, plus `updated_at`, and
    /// `version + 1`; only if the record is at `patch.expected_version` when one is given.
    /// Concurrent updates of different fields therefore never lose each other's changes.
    async fn update(&self, id: TransactionId, patch: RecordPatch) -> Result<Written, StoreError>;

    /// Removes the record (only if it is at `expected_version`, when given) and returns it
    /// as it was. `deleted_at` is the time of the removal (from the domain's clock, like an
    /// update's `updated_at`): its `transaction.deleted` event occurred then, and its
    /// history entry (by `actor`) is dated then.
    async fn delete(
        &self,
        id: TransactionId,
        expected_version: Option<u64>,
        deleted_at: Timestamp,
        actor: Actor,
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

/// The permanent history of transactions (see [`crate::history`]), written by the
/// [`TransactionStore`]'s changes and read here.
///
/// Contract: [`history`](Self::history) returns every entry kept for the id, oldest
/// version first, whether or not the transaction still exists; an id never written gives
/// an empty list.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait HistoryLog: Send + Sync {
    /// Every entry kept for the transaction, by ascending version.
    async fn history(&self, id: TransactionId) -> Result<Vec<HistoryEntry>, StoreError>;

    /// Removes entries made before `before` (the retention setting's horizon); how many.
    async fn prune_history(&self, before: Timestamp) -> Result<u64, StoreError>;
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
    ///
    /// Each creation or replacement also writes its history entry by `actor` in the same
    /// write, unless an entry for that version is kept already (one carried by
    /// [`put_history`](Self::put_history) from the export the records came from).
    async fn import_records(
        &self,
        records: Vec<TransactionRecord>,
        actor: Actor,
    ) -> Result<ImportCounts, StoreError>;

    /// Up to `limit` history entries after `(transaction id, version)`, in that order
    /// (from the first when `None`), exactly as stored.
    async fn history_after(
        &self,
        after: Option<(TransactionId, u64)>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, StoreError>;

    /// Writes history entries as they are (replacing any with the same transaction id and
    /// version).
    async fn put_history(&self, entries: Vec<HistoryEntry>) -> Result<(), StoreError>;

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

    /// The history entry the step writes with `record`, by `actor`; `None` when it writes
    /// nothing.
    pub fn history(&self, record: &TransactionRecord, actor: &Actor) -> Option<HistoryEntry> {
        match self {
            Self::Create => Some(HistoryEntry::created(record, actor.clone())),
            Self::Replace(held) => Some(HistoryEntry::updated(held, record, actor.clone())),
            Self::Unchanged => None,
        }
    }
}

/// A store that implements every storage port, usually over one connection pool: what the
/// composition root wires into the service's [`Ports`](crate::Ports) and what the
/// testkit's contract suites check. Implemented for every type that implements them all.
pub trait Store:
    TransactionStore
    + StatisticsQuery
    + IdempotencyStore
    + DailyRollups
    + EventLog
    + StoreTransfer
    + WriteSwitch
    + HistoryLog
{
}

impl<T> Store for T where
    T: TransactionStore
        + StatisticsQuery
        + IdempotencyStore
        + DailyRollups
        + EventLog
        + StoreTransfer
        + WriteSwitch
        + HistoryLog
{
}
