//! An in-memory store: all three storage ports over one map, for tests and examples.
//!
//! It keeps the same contract as the real adapters (it runs the store contract suite in
//! this crate's own tests), so service tests can use it instead of scripting mocks call by
//! call. Nothing is durable: it is not an embedded store, only a faithful model of one.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use std::time::Duration;

use async_trait::async_trait;
use fido_domain::{
    Actor, Backlog, Claim, ClaimRequest, ClaimStep, CursorSave, DailyRollups, DateRange, DayTotals,
    EncryptedName, EventLog, EventPage, FailedDelivery, HeldClaim, HistoryEntry, HistoryLog,
    IdempotencyKey, IdempotencyRecord, IdempotencyStore, ListFilter, ListQuery, MoneySum,
    OutboxEvent, Page, Position, PublisherCursor, RecordPatch, RollupDrift, SealedKey,
    StatisticsQuery, StoreError, StoreTransfer, StoredEvent, Timestamp, TransactionId,
    TransactionRecord, TransactionStore, TransactionTotals, TransactionType, UserId, UtcDay,
    Window, Written,
};

use crate::outbox::Outbox;

/// One remembered idempotency key.
#[derive(Clone, Debug)]
struct KeyRecord {
    fingerprint: String,
    transaction_id: TransactionId,
    lease_until: Timestamp,
    expires_at: Timestamp,
    snapshot: Option<String>,
}

/// Transactions and idempotency keys in memory. Cheap to create; one per test.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<TransactionId, TransactionRecord>>,
    keys: Mutex<HashMap<(String, String), KeyRecord>>,
    /// Locked after `records` when both are needed (a change and its event are one step).
    outbox: Mutex<Outbox>,
    /// Locked after `records` too: a change and its history entry are one step.
    history: Mutex<BTreeMap<(TransactionId, u64), HistoryEntry>>,
    events_off: bool,
    pause: Mutex<Option<fido_domain::WritePause>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that writes no events.
    pub fn without_events() -> Self {
        Self {
            events_off: true,
            ..Self::default()
        }
    }

    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record_event(&self, event: OutboxEvent) {
        if !self.events_off {
            self.outbox().append(event);
        }
    }

    fn history_map(&self) -> MutexGuard<'_, BTreeMap<(TransactionId, u64), HistoryEntry>> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record_history(&self, entry: HistoryEntry) {
        self.history_map()
            .insert((entry.transaction_id, entry.version), entry);
    }

    /// The user's records that pass `filter`, in the listing order (newest first).
    fn matching(&self, user: UserId, filter: &ListFilter) -> Vec<TransactionRecord> {
        let mut mine: Vec<TransactionRecord> = self
            .records()
            .values()
            .filter(|r| r.user_id == user && filter.matches(r))
            .cloned()
            .collect();
        mine.sort_by_key(|r| std::cmp::Reverse((r.transaction_date, r.id)));
        mine
    }

    fn records(&self) -> MutexGuard<'_, HashMap<TransactionId, TransactionRecord>> {
        // Every method leaves the map consistent, so a poisoned lock is still usable.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn keys(&self) -> MutexGuard<'_, HashMap<(String, String), KeyRecord>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl TransactionStore for MemoryStore {
    async fn insert(&self, record: TransactionRecord, actor: Actor) -> Result<(), StoreError> {
        let mut records = self.records();
        if records.contains_key(&record.id) {
            return Err(StoreError::Duplicate);
        }
        self.record_event(OutboxEvent::created(&record));
        self.record_history(HistoryEntry::created(&record, actor));
        records.insert(record.id, record);
        Ok(())
    }

    async fn get(&self, id: TransactionId) -> Result<Option<TransactionRecord>, StoreError> {
        Ok(self.records().get(&id).cloned())
    }

    async fn update(&self, id: TransactionId, patch: RecordPatch) -> Result<Written, StoreError> {
        let mut records = self.records();
        let Some(r) = records.get_mut(&id) else {
            return Ok(Written::NotFound);
        };
        if patch.expected_version.is_some_and(|v| v != r.version) {
            return Ok(Written::VersionMismatch);
        }
        let before = r.clone();
        if let Some(name) = patch.full_name {
            r.full_name = name;
        }
        r.amount = patch.amount.unwrap_or(r.amount);
        r.kind = patch.kind.unwrap_or(r.kind);
        r.updated_at = patch.updated_at;
        r.version += 1;
        self.record_event(OutboxEvent::updated(&before, r));
        self.record_history(HistoryEntry::updated(&before, r, patch.actor));
        Ok(Written::Done(r.clone()))
    }

    async fn delete(
        &self,
        id: TransactionId,
        expected_version: Option<u64>,
        deleted_at: Timestamp,
        actor: Actor,
    ) -> Result<Written, StoreError> {
        let mut records = self.records();
        match records.get(&id) {
            None => Ok(Written::NotFound),
            Some(r) if expected_version.is_some_and(|v| v != r.version) => {
                Ok(Written::VersionMismatch)
            }
            Some(_) => Ok(match records.remove(&id) {
                Some(gone) => {
                    self.record_event(OutboxEvent::deleted(&gone, deleted_at));
                    self.record_history(HistoryEntry::deleted(&gone, deleted_at, actor));
                    Written::Done(gone)
                }
                None => Written::NotFound,
            }),
        }
    }

    async fn list_by_user(
        &self,
        user: UserId,
        query: ListQuery,
    ) -> Result<Page<TransactionRecord>, StoreError> {
        let mine = self.matching(user, &query.filter);
        let total = mine.len() as u64;
        let limit = query.window.limit() as usize + 1;
        let rows = match query.window {
            Window::Page(page) => {
                let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
                mine.into_iter().skip(skip).take(limit).collect()
            }
            Window::After { after, .. } => mine
                .into_iter()
                .filter(|r| after.is_none_or(|a| a.precedes(r)))
                .take(limit)
                .collect(),
        };
        Ok(Page::of_rows(user, &query, total, rows))
    }

    async fn scan_by_user(
        &self,
        user: UserId,
        filter: ListFilter,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        Ok(self
            .matching(user, &filter)
            .into_iter()
            .filter(|r| after.is_none_or(|a| a.precedes(r)))
            .take(limit as usize)
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn names_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<(TransactionId, EncryptedName)>, StoreError> {
        let mut names: Vec<_> = self
            .records()
            .values()
            .filter(|r| after.is_none_or(|a| r.id > a))
            .map(|r| (r.id, r.full_name.clone()))
            .collect();
        names.sort_by_key(|(id, _)| *id);
        names.truncate(limit as usize);
        Ok(names)
    }

    async fn replace_name(
        &self,
        id: TransactionId,
        expected: EncryptedName,
        new: EncryptedName,
    ) -> Result<bool, StoreError> {
        match self.records().get_mut(&id) {
            Some(r) if r.full_name == expected => {
                r.full_name = new;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl StatisticsQuery for MemoryStore {
    async fn totals(
        &self,
        user: UserId,
        range: DateRange,
    ) -> Result<TransactionTotals, StoreError> {
        let records = self.records();
        let mut totals = TransactionTotals::default();
        let mut per_day: HashMap<UtcDay, u64> = HashMap::new();
        for r in records
            .values()
            .filter(|r| r.user_id == user && range.contains(r.transaction_date))
        {
            totals.count += 1;
            let sum = match r.kind {
                TransactionType::Credit => &mut totals.total_credit,
                TransactionType::Debit => &mut totals.total_debit,
            };
            *sum = sum.plus(MoneySum::from(r.amount));
            *per_day.entry(r.transaction_date.day()).or_insert(0) += 1;
        }
        // The most transactions; among equals, the earliest day.
        totals.busiest_day = per_day
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(day, _)| day);
        Ok(totals)
    }

    async fn daily(&self, user: UserId, range: DateRange) -> Result<Vec<DayTotals>, StoreError> {
        let mut days: std::collections::BTreeMap<UtcDay, DayTotals> = Default::default();
        for r in self.in_range(user, range) {
            let day = r.transaction_date.day();
            let totals = days.entry(day).or_insert(DayTotals {
                day,
                count: 0,
                credit: MoneySum::ZERO,
                debit: MoneySum::ZERO,
            });
            totals.count += 1;
            let sum = match r.kind {
                TransactionType::Credit => &mut totals.credit,
                TransactionType::Debit => &mut totals.debit,
            };
            *sum = sum.plus(MoneySum::from(r.amount));
        }
        Ok(days.into_values().collect())
    }
}

impl MemoryStore {
    fn in_range(&self, user: UserId, range: DateRange) -> Vec<TransactionRecord> {
        self.records()
            .values()
            .filter(|r| r.user_id == user && range.contains(r.transaction_date))
            .cloned()
            .collect()
    }
}

/// The in-memory store computes statistics from its rows: it keeps no roll-ups.
#[async_trait]
impl DailyRollups for MemoryStore {
    fn kept(&self) -> bool {
        false
    }

    async fn users_after(
        &self,
        _after: Option<UserId>,
        _limit: u32,
    ) -> Result<Vec<UserId>, StoreError> {
        Ok(Vec::new())
    }

    async fn check_user(
        &self,
        _user: UserId,
        _repair: bool,
    ) -> Result<Vec<RollupDrift>, StoreError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim(&self, request: ClaimRequest) -> Result<Claim, StoreError> {
        let mut keys = self.keys();
        let slot = (request.scope.clone(), request.key.as_str().to_owned());
        let held = keys.get(&slot).map(|k| HeldClaim {
            fingerprint: k.fingerprint.clone(),
            transaction_id: k.transaction_id,
            snapshot: k.snapshot.clone(),
            lease_until: k.lease_until,
            expires_at: k.expires_at,
        });
        // The decision is the domain's; the map's lock makes read and write one step.
        Ok(match request.decide(held) {
            ClaimStep::Answer(claim) => claim,
            ClaimStep::TakeOver(claim) => {
                if let Some(held) = keys.get_mut(&slot) {
                    held.lease_until = request.lease_until;
                }
                claim
            }
            ClaimStep::Hold => {
                let acquired = request.acquired();
                keys.insert(
                    slot,
                    KeyRecord {
                        fingerprint: request.fingerprint,
                        transaction_id: request.candidate_id,
                        lease_until: request.lease_until,
                        expires_at: request.expires_at,
                        snapshot: None,
                    },
                );
                acquired
            }
        })
    }

    async fn complete(
        &self,
        scope: String,
        key: IdempotencyKey,
        snapshot: String,
    ) -> Result<(), StoreError> {
        if let Some(held) = self.keys().get_mut(&(scope, key.as_str().to_owned())) {
            held.snapshot = Some(snapshot);
        }
        Ok(())
    }

    async fn release(&self, scope: String, key: IdempotencyKey) -> Result<(), StoreError> {
        let mut keys = self.keys();
        let slot = (scope, key.as_str().to_owned());
        if keys.get(&slot).is_some_and(|held| held.snapshot.is_none()) {
            keys.remove(&slot);
        }
        Ok(())
    }

    async fn sealed_after(
        &self,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<SealedKey>, StoreError> {
        let mut sealed: Vec<SealedKey> = self
            .keys()
            .iter()
            .filter(|(slot, _)| after.as_ref().is_none_or(|a| *slot > a))
            .map(|((scope, key), held)| SealedKey {
                scope: scope.clone(),
                key: key.clone(),
                fingerprint: held.fingerprint.clone(),
                snapshot: held.snapshot.clone(),
            })
            .collect();
        sealed.sort_by(|a, b| (&a.scope, &a.key).cmp(&(&b.scope, &b.key)));
        sealed.truncate(limit as usize);
        Ok(sealed)
    }

    async fn replace_sealed(
        &self,
        expected: SealedKey,
        new: SealedKey,
    ) -> Result<bool, StoreError> {
        let mut keys = self.keys();
        match keys.get_mut(&(expected.scope, expected.key)) {
            Some(held)
                if held.fingerprint == expected.fingerprint
                    && held.snapshot == expected.snapshot =>
            {
                held.fingerprint = new.fingerprint;
                held.snapshot = new.snapshot;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl EventLog for MemoryStore {
    fn enabled(&self) -> bool {
        !self.events_off
    }

    async fn events_after(&self, after: u64, limit: u32) -> Result<EventPage, StoreError> {
        Ok(self.outbox().page(after, limit))
    }

    async fn cursor(&self, publisher: &str) -> Result<PublisherCursor, StoreError> {
        Ok(self.outbox().cursor(publisher))
    }

    async fn save_cursor(&self, save: CursorSave) -> Result<bool, StoreError> {
        Ok(self.outbox().save_cursor(save))
    }

    async fn failed_deliveries(
        &self,
        publisher: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<FailedDelivery>, StoreError> {
        Ok(self.outbox().failed(publisher, after, limit))
    }

    async fn acquire_lease(
        &self,
        lease: &str,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        Ok(self.outbox().acquire(lease, holder, now, ttl))
    }

    async fn release_lease(&self, lease: &str, holder: &str) -> Result<(), StoreError> {
        self.outbox().release(lease, holder);
        Ok(())
    }

    async fn prune(&self, before: Timestamp, publishers: &[String]) -> Result<u64, StoreError> {
        Ok(self.outbox().prune(before, publishers))
    }

    async fn backlog(&self, publishers: &[String]) -> Result<Backlog, StoreError> {
        Ok(self.outbox().backlog(publishers))
    }
}

#[async_trait]
impl HistoryLog for MemoryStore {
    async fn history(&self, id: TransactionId) -> Result<Vec<HistoryEntry>, StoreError> {
        Ok(self
            .history_map()
            .range((id, 0)..=(id, u64::MAX))
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn prune_history(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut history = self.history_map();
        let was = history.len();
        history.retain(|_, e| e.at >= before);
        Ok((was - history.len()) as u64)
    }
}

#[async_trait]
impl StoreTransfer for MemoryStore {
    async fn records_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        let mut records: Vec<TransactionRecord> = self
            .records()
            .values()
            .filter(|r| after.is_none_or(|a| r.id > a))
            .cloned()
            .collect();
        records.sort_by_key(|r| r.id);
        records.truncate(limit as usize);
        Ok(records)
    }

    async fn put_records(&self, records: Vec<TransactionRecord>) -> Result<(), StoreError> {
        let mut map = self.records();
        for r in records {
            map.insert(r.id, r);
        }
        Ok(())
    }

    async fn remove_records(&self, ids: Vec<TransactionId>) -> Result<(), StoreError> {
        let mut map = self.records();
        for id in ids {
            map.remove(&id);
        }
        Ok(())
    }

    async fn import_records(
        &self,
        records: Vec<TransactionRecord>,
        actor: Actor,
    ) -> Result<fido_domain::ImportCounts, StoreError> {
        let mut map = self.records();
        let mut counts = fido_domain::ImportCounts::default();
        for r in records {
            let step = fido_domain::ImportStep::of(map.get(&r.id), &r);
            counts.count(&step);
            let (Some(event), Some(entry)) = (step.event(&r), step.history(&r, &actor)) else {
                continue;
            };
            self.record_event(event);
            self.history_map()
                .entry((entry.transaction_id, entry.version))
                .or_insert(entry);
            map.insert(r.id, r);
        }
        Ok(counts)
    }

    async fn history_after(
        &self,
        after: Option<(TransactionId, u64)>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(self
            .history_map()
            .range((from, Bound::Unbounded))
            .take(limit as usize)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn put_history(&self, entries: Vec<HistoryEntry>) -> Result<(), StoreError> {
        let mut history = self.history_map();
        for entry in entries {
            history.insert((entry.transaction_id, entry.version), entry);
        }
        Ok(())
    }

    async fn idempotency_after(
        &self,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<IdempotencyRecord>, StoreError> {
        let mut all: Vec<IdempotencyRecord> = self
            .keys()
            .iter()
            .filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a))
            .map(|((scope, key), r)| IdempotencyRecord {
                scope: scope.clone(),
                key: key.clone(),
                fingerprint: r.fingerprint.clone(),
                transaction_id: r.transaction_id,
                snapshot: r.snapshot.clone(),
                lease_until: r.lease_until,
                expires_at: r.expires_at,
            })
            .collect();
        all.sort_by(|a, b| (&a.scope, &a.key).cmp(&(&b.scope, &b.key)));
        all.truncate(limit as usize);
        Ok(all)
    }

    async fn put_idempotency(&self, records: Vec<IdempotencyRecord>) -> Result<(), StoreError> {
        let mut keys = self.keys();
        for r in records {
            keys.insert(
                (r.scope, r.key),
                KeyRecord {
                    fingerprint: r.fingerprint,
                    transaction_id: r.transaction_id,
                    lease_until: r.lease_until,
                    expires_at: r.expires_at,
                    snapshot: r.snapshot,
                },
            );
        }
        Ok(())
    }

    async fn put_events(
        &self,
        events: Vec<StoredEvent>,
        last_sequence: u64,
        pruned_through: u64,
    ) -> Result<(), StoreError> {
        self.outbox().put(events, last_sequence, pruned_through);
        Ok(())
    }

    async fn cursors(&self) -> Result<Vec<(String, PublisherCursor)>, StoreError> {
        Ok(self.outbox().all_cursors())
    }

    async fn put_cursors(&self, cursors: Vec<(String, PublisherCursor)>) -> Result<(), StoreError> {
        self.outbox().put_cursors(cursors);
        Ok(())
    }
}

#[async_trait]
impl fido_domain::WriteSwitch for MemoryStore {
    async fn write_pause(&self) -> Result<Option<fido_domain::WritePause>, StoreError> {
        Ok(self
            .pause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    async fn set_write_pause(
        &self,
        pause: Option<fido_domain::WritePause>,
    ) -> Result<(), StoreError> {
        *self.pause.lock().unwrap_or_else(PoisonError::into_inner) = pause;
        Ok(())
    }
}
