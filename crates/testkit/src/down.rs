//! A store that cannot be reached: every call of every storage port answers
//! [`StoreError::Unavailable`], as an adapter must when its database is down. For tests of
//! what callers see then (503s, readiness) without scripting a mock call by call.

use async_trait::async_trait;
use fido_domain::{
    Actor, Backlog, Claim, ClaimRequest, CursorSave, DailyRollups, DateRange, DayTotals,
    EncryptedName, EventLog, EventPage, FailedDelivery, HistoryEntry, HistoryLog, IdempotencyKey,
    IdempotencyRecord, IdempotencyStore, ListFilter, ListQuery, Page, Position, PublisherCursor,
    RecordPatch, RollupDrift, SealedKey, StatisticsQuery, StoreError, StoreTransfer, StoredEvent,
    Timestamp, TransactionId, TransactionRecord, TransactionStore, TransactionTotals, UserId,
    Written,
};

/// Every call: `Unavailable`, with a message that a caller must never see.
#[derive(Debug, Default, Clone, Copy)]
pub struct DownStore;

fn down<T>() -> Result<T, StoreError> {
    Err(StoreError::Unavailable(
        "connection refused by db:27017 (secret detail)".into(),
    ))
}

#[async_trait]
impl TransactionStore for DownStore {
    async fn insert(&self, _: TransactionRecord, _: Actor) -> Result<(), StoreError> {
        down()
    }
    async fn get(&self, _: TransactionId) -> Result<Option<TransactionRecord>, StoreError> {
        down()
    }
    async fn update(&self, _: TransactionId, _: RecordPatch) -> Result<Written, StoreError> {
        down()
    }
    async fn delete(
        &self,
        _: TransactionId,
        _: Option<u64>,
        _: Timestamp,
        _: Actor,
    ) -> Result<Written, StoreError> {
        down()
    }
    async fn list_by_user(
        &self,
        _: UserId,
        _: ListQuery,
    ) -> Result<Page<TransactionRecord>, StoreError> {
        down()
    }
    async fn scan_by_user(
        &self,
        _: UserId,
        _: ListFilter,
        _: Option<Position>,
        _: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        down()
    }
    async fn ping(&self) -> Result<(), StoreError> {
        down()
    }
    async fn names_after(
        &self,
        _: Option<TransactionId>,
        _: u32,
    ) -> Result<Vec<(TransactionId, EncryptedName)>, StoreError> {
        down()
    }
    async fn replace_name(
        &self,
        _: TransactionId,
        _: EncryptedName,
        _: EncryptedName,
    ) -> Result<bool, StoreError> {
        down()
    }
}

#[async_trait]
impl StatisticsQuery for DownStore {
    async fn totals(&self, _: UserId, _: DateRange) -> Result<TransactionTotals, StoreError> {
        down()
    }
    async fn daily(&self, _: UserId, _: DateRange) -> Result<Vec<DayTotals>, StoreError> {
        down()
    }
}

#[async_trait]
impl IdempotencyStore for DownStore {
    async fn claim(&self, _: ClaimRequest) -> Result<Claim, StoreError> {
        down()
    }
    async fn complete(&self, _: String, _: IdempotencyKey, _: String) -> Result<(), StoreError> {
        down()
    }
    async fn release(&self, _: String, _: IdempotencyKey) -> Result<(), StoreError> {
        down()
    }
    async fn sealed_after(
        &self,
        _: Option<(String, String)>,
        _: u32,
    ) -> Result<Vec<SealedKey>, StoreError> {
        down()
    }
    async fn replace_sealed(&self, _: SealedKey, _: SealedKey) -> Result<bool, StoreError> {
        down()
    }
}

#[async_trait]
impl DailyRollups for DownStore {
    fn kept(&self) -> bool {
        true
    }
    async fn users_after(&self, _: Option<UserId>, _: u32) -> Result<Vec<UserId>, StoreError> {
        down()
    }
    async fn check_user(&self, _: UserId, _: bool) -> Result<Vec<RollupDrift>, StoreError> {
        down()
    }
}

#[async_trait]
impl EventLog for DownStore {
    fn enabled(&self) -> bool {
        true
    }
    async fn events_after(&self, _: u64, _: u32) -> Result<EventPage, StoreError> {
        down()
    }
    async fn cursor(&self, _: &str) -> Result<PublisherCursor, StoreError> {
        down()
    }
    async fn save_cursor(&self, _: CursorSave) -> Result<bool, StoreError> {
        down()
    }
    async fn failed_deliveries(
        &self,
        _: &str,
        _: u64,
        _: u32,
    ) -> Result<Vec<FailedDelivery>, StoreError> {
        down()
    }
    async fn acquire_lease(
        &self,
        _: &str,
        _: &str,
        _: Timestamp,
        _: std::time::Duration,
    ) -> Result<bool, StoreError> {
        down()
    }
    async fn release_lease(&self, _: &str, _: &str) -> Result<(), StoreError> {
        down()
    }
    async fn prune(&self, _: Timestamp, _: &[String]) -> Result<u64, StoreError> {
        down()
    }
    async fn backlog(&self, _: &[String]) -> Result<Backlog, StoreError> {
        down()
    }
}

#[async_trait]
impl HistoryLog for DownStore {
    async fn history(&self, _: TransactionId) -> Result<Vec<HistoryEntry>, StoreError> {
        down()
    }
    async fn prune_history(&self, _: Timestamp) -> Result<u64, StoreError> {
        down()
    }
}

#[async_trait]
impl StoreTransfer for DownStore {
    async fn records_after(
        &self,
        _: Option<TransactionId>,
        _: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        down()
    }
    async fn put_records(&self, _: Vec<TransactionRecord>) -> Result<(), StoreError> {
        down()
    }
    async fn remove_records(&self, _: Vec<TransactionId>) -> Result<(), StoreError> {
        down()
    }
    async fn import_records(
        &self,
        _: Vec<TransactionRecord>,
        _: Actor,
    ) -> Result<fido_domain::ImportCounts, StoreError> {
        down()
    }
    async fn history_after(
        &self,
        _: Option<(TransactionId, u64)>,
        _: u32,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        down()
    }
    async fn put_history(&self, _: Vec<HistoryEntry>) -> Result<(), StoreError> {
        down()
    }
    async fn idempotency_after(
        &self,
        _: Option<(String, String)>,
        _: u32,
    ) -> Result<Vec<IdempotencyRecord>, StoreError> {
        down()
    }
    async fn put_idempotency(&self, _: Vec<IdempotencyRecord>) -> Result<(), StoreError> {
        down()
    }
    async fn put_events(&self, _: Vec<StoredEvent>, _: u64, _: u64) -> Result<(), StoreError> {
        down()
    }
    async fn cursors(&self) -> Result<Vec<(String, PublisherCursor)>, StoreError> {
        down()
    }
    async fn put_cursors(&self, _: Vec<(String, PublisherCursor)>) -> Result<(), StoreError> {
        down()
    }
}

#[async_trait]
impl fido_domain::WriteSwitch for DownStore {
    async fn write_pause(&self) -> Result<Option<fido_domain::WritePause>, StoreError> {
        down()
    }
    async fn set_write_pause(&self, _: Option<fido_domain::WritePause>) -> Result<(), StoreError> {
        down()
    }
}
