//! The transaction service: the one place where the rules live.
//!
//! - Names are encrypted before any store sees them and decrypted on the way out.
//! - Lists and statistics are read through the cache in their encoded form
//!   ([`ReadEncoder`]); a cache error is logged and treated as a miss, so a broken cache
//!   slows the service down but never fails a request.
//! - Every write invalidates the user's cache entries once the store has accepted it, so a
//!   caller whose write returned reads it on every later list or statistics call.
//!
//! The operations are split by concern: plain CRUD and reads here, the cached read path in
//! `read_through`, idempotent creates in `idempotent`, key rotation in `rotation`.

mod balances;
mod idempotent;
mod owners;
mod read_through;
mod rollups;
mod rotation;
mod single_flight;

use std::sync::Arc;
use std::time::Duration;

use self::owners::Owners;
pub use self::rollups::{verify_rollups, RollupReport};
pub use self::rotation::{reencrypt_history, ReencryptProgress, ResealProgress};
use self::single_flight::SingleFlight;
use crate::cache_key::{CacheKey, CachePolicy};
use crate::error::{DomainError, InternalError, NotFound};
use crate::events::{Backlog, EventPage};
use crate::history::{Actor, TransactionVersion};
use crate::id::{TransactionId, UserId};
use crate::name::{EncryptedName, FullName};
use crate::page::Page;
use crate::ports::{
    Cache, CacheError, CipherError, Clock, DailyRollups, EventLog, FieldCipher, HistoryLog,
    IdempotencyStore, ReadEncoder, StatisticsQuery, StoreError, TransactionStore, WritePause,
};
use crate::query::{ListFilter, ListQuery, Position};
use crate::statistics::{Granularity, Series, StatisticsSummary};
use crate::time::{DateRange, Timestamp};
use crate::transaction::{
    NewTransaction, RecordPatch, Transaction, TransactionPatch, TransactionRecord, Written,
};

/// The most events one feed page holds.
pub const MAX_FEED_LIMIT: u32 = 1000;

/// Feed pages [`TransactionService::forget_changed_since`] reads at most per call.
pub const FORGET_PAGES: u32 = 16;

/// Tunables of the service.
#[derive(Clone, Copy, Debug)]
pub struct ServiceConfig {
    /// Cache lifetimes.
    pub cache: CachePolicy,
    /// How far in the future a transaction's date may lie (default five minutes), to
    /// allow for clock skew between client and server.
    pub max_future_skew: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            cache: CachePolicy::default(),
            max_future_skew: Duration::from_secs(300),
        }
    }
}

/// The adapters a [`TransactionService`] works through.
#[derive(Clone)]
pub struct Ports {
    /// Where records live.
    pub store: Arc<dyn TransactionStore>,
    /// Where statistics are computed (usually the same adapter as `store`).
    pub statistics: Arc<dyn StatisticsQuery>,
    /// The read-through cache.
    pub cache: Arc<dyn Cache>,
    /// The name cipher.
    pub cipher: Arc<dyn FieldCipher>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Memory of idempotency keys (usually the same adapter as `store`).
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// The encoding of cached reads (supplied by the edge that sends them).
    pub encoder: Arc<dyn ReadEncoder>,
    /// The store's daily roll-ups, for checks and repairs (usually the same adapter as
    /// `store`).
    pub rollups: Arc<dyn DailyRollups>,
    /// The store's outbox of events, for the feed (usually the same adapter as `store`).
    pub events: Arc<dyn EventLog>,
    /// The transactions' history, for its reads (usually the same adapter as `store`).
    pub history: Arc<dyn HistoryLog>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports { .. }")
    }
}

/// The health of the service's dependencies, for readiness probes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// `Ok` when the store answered; otherwise why not.
    pub store: Result<(), StoreError>,
    /// `Ok` when the cache answered; otherwise why not.
    pub cache: Result<(), CacheError>,
    /// Documents a migration set aside (0 when unknown: the store did not answer).
    pub quarantined: u64,
}

/// Creates, reads, changes, deletes, lists and summarises transactions.
///
/// Cheap to clone: clones share the ports and the in-flight reads.
#[derive(Clone, Debug)]
pub struct TransactionService {
    ports: Ports,
    config: ServiceConfig,
    /// Cached reads under way, by cache slot (single flight).
    flights: Arc<SingleFlight<String>>,
    /// Owners of transactions seen, so reads by id go through the owner's cache entries.
    owners: Arc<Owners>,
    /// The deployment-wide write pause as last read from the store.
    pause: Arc<PauseGate>,
}

/// The write pause this service applies (see [`TransactionService::apply_write_pause`]).
type PauseGate = std::sync::RwLock<Option<WritePause>>;

/// A transaction read by id, encoded by the [`ReadEncoder`], with the version its ETag is
/// made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedTransaction {
    /// The transaction's version.
    pub version: u64,
    /// The transaction as [`ReadEncoder::encode_transaction`] wrote it.
    pub encoded: String,
}

impl EncodedTransaction {
    /// The cached form: the version, a space, the encoded transaction.
    fn frame(&self) -> String {
        format!("{} {}", self.version, self.encoded)
    }

    fn unframe(framed: &str) -> Option<Self> {
        let (version, encoded) = framed.split_once(' ')?;
        Some(Self {
            version: version.parse().ok()?,
            encoded: encoded.to_owned(),
        })
    }
}

impl TransactionService {
    /// Wires the service to its adapters.
    pub fn new(ports: Ports, config: ServiceConfig) -> Self {
        Self {
            ports,
            config,
            flights: Arc::default(),
            owners: Arc::default(),
            pause: Arc::default(),
        }
    }

    /// Applies the deployment-wide write pause read from the store's
    /// [`WriteSwitch`](crate::WriteSwitch) (the serving process reads it about every half
    /// second): while one holds, creates, updates and deletes answer
    /// [`DomainError::WritesPaused`] before touching anything. Returns whether this
    /// changed the state.
    pub fn apply_write_pause(&self, pause: Option<WritePause>) -> bool {
        let mut current = self
            .pause
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = current.is_some() != pause.is_some();
        *current = pause;
        changed
    }

    /// The write pause in force here, if any.
    pub fn write_pause(&self) -> Option<WritePause> {
        self.pause
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// `Err(WritesPaused)` while writes are paused.
    fn writable(&self) -> Result<(), DomainError> {
        let paused = self
            .pause
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some();
        if paused {
            return Err(DomainError::WritesPaused);
        }
        Ok(())
    }

    /// Records a new transaction, made by `actor` (its history's first version), and
    /// returns it with its name in clear text.
    ///
    /// Errors: `DateTooFarAhead`; `StoreUnavailable`; `Internal` when encryption fails.
    #[tracing::instrument(target = "fido::span", name = "service.create", skip_all)]
    pub async fn create(
        &self,
        new: NewTransaction,
        actor: &Actor,
    ) -> Result<Transaction, DomainError> {
        self.writable()?;
        let now = self.ports.clock.now();
        let record = self
            .new_record(TransactionId::generate(now), &new, now)
            .await?;
        self.ports
            .store
            .insert(record.clone(), actor.clone())
            .await
            .map_err(store_error)?;
        self.invalidate(new.user_id).await;
        self.owners.remember(record.id, record.user_id);
        Ok(reveal(record, new.full_name))
    }

    /// Checks the date and encrypts the name: the record a create will store.
    async fn new_record(
        &self,
        id: TransactionId,
        new: &NewTransaction,
        now: Timestamp,
    ) -> Result<TransactionRecord, DomainError> {
        let transaction_date = check_date(new, now, self.config.max_future_skew)?;
        let token = self.encrypt(&new.full_name).await?;
        Ok(TransactionRecord {
            id,
            user_id: new.user_id,
            full_name: token,
            amount: new.amount,
            kind: new.kind,
            transaction_date,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }

    /// The transaction with this id. Errors: `NotFound`, `StoreUnavailable`, `Internal`.
    #[tracing::instrument(target = "fido::span", name = "service.get", skip_all)]
    pub async fn get(&self, id: TransactionId) -> Result<Transaction, DomainError> {
        let record = self
            .ports
            .store
            .get(id)
            .await
            .map_err(store_error)?
            .ok_or(DomainError::NotFound(NotFound::Transaction))?;
        self.decrypt(record).await
    }

    /// The same transaction as [`get`](Self::get), encoded by the [`ReadEncoder`] and read
    /// through the cache under its owner's entries, so every write of the owner (on any
    /// instance sharing the cache) invalidates it. The owner is learnt from this
    /// instance's writes and reads: the first read of a transaction this instance has not
    /// seen goes to the store. A missing transaction is cached as missing (its owner's
    /// next write forgets that). Errors: `NotFound`, `StoreUnavailable`, `Internal`.
    #[tracing::instrument(target = "fido::span", name = "service.get_encoded", skip_all)]
    pub async fn get_encoded(&self, id: TransactionId) -> Result<EncodedTransaction, DomainError> {
        let Some(user) = self.owners.get(id) else {
            let found = self.get(id).await?;
            self.owners.remember(id, found.user_id);
            return self.encode_transaction(&found);
        };
        let key = CacheKey::transaction(user, id);
        let ttl = self.config.cache.transaction_ttl;
        let framed = self
            .read_through(key, ttl, move |service| async move {
                let found = match service.get(id).await {
                    Ok(found) => found,
                    Err(DomainError::NotFound(_)) => return Ok(None),
                    Err(e) => return Err(e),
                };
                if found.user_id != user {
                    // Moved to another user outside the service (an import): learn the
                    // new owner; this answer is right, and entries under the old owner
                    // are no longer looked up here.
                    service.owners.remember(id, found.user_id);
                }
                service.encode_transaction(&found).map(|e| Some(e.frame()))
            })
            .await?;
        let framed = framed.ok_or(DomainError::NotFound(NotFound::Transaction))?;
        EncodedTransaction::unframe(&framed)
            .ok_or(DomainError::Internal(InternalError::CorruptCacheEntry))
    }

    fn encode_transaction(&self, found: &Transaction) -> Result<EncodedTransaction, DomainError> {
        let encoded = self.encode(|e| e.encode_transaction(found))?;
        Ok(EncodedTransaction {
            version: found.version,
            encoded,
        })
    }

    /// Applies a non-empty patch, made by `actor`, and returns the transaction as it is
    /// now. `updated_at` moves and `version` grows by one; `created_at` does not move. With
    /// `expected_version`, applies only if the transaction is still at that version.
    /// Errors: `NotFound`, `VersionMismatch`, `StoreUnavailable`, `Internal`.
    #[tracing::instrument(target = "fido::span", name = "service.update", skip_all)]
    pub async fn update(
        &self,
        id: TransactionId,
        patch: TransactionPatch,
        expected_version: Option<u64>,
        actor: &Actor,
    ) -> Result<Transaction, DomainError> {
        self.writable()?;
        let full_name = match patch.full_name() {
            Some(name) => Some(self.encrypt(name).await?),
            None => None,
        };
        let record_patch = RecordPatch {
            full_name,
            amount: patch.amount(),
            kind: patch.kind(),
            updated_at: self.ports.clock.now(),
            expected_version,
            actor: actor.clone(),
        };
        let outcome = self
            .ports
            .store
            .update(id, record_patch)
            .await
            .map_err(store_error)?;
        let record = written(outcome)?;
        self.invalidate(record.user_id).await;
        self.owners.remember(record.id, record.user_id);
        match patch.full_name() {
            // The name we just wrote: no need to decrypt it again.
            Some(name) => Ok(reveal(record, name.clone())),
            None => self.decrypt(record).await,
        }
    }

    /// Deletes a transaction (only if still at `expected_version`, when given), by
    /// `actor`. Its history stays readable.
    /// Errors: `NotFound`, `VersionMismatch`, `StoreUnavailable`, `Internal`.
    #[tracing::instrument(target = "fido::span", name = "service.delete", skip_all)]
    pub async fn delete(
        &self,
        id: TransactionId,
        expected_version: Option<u64>,
        actor: &Actor,
    ) -> Result<(), DomainError> {
        self.writable()?;
        let outcome = self
            .ports
            .store
            .delete(id, expected_version, self.ports.clock.now(), actor.clone())
            .await
            .map_err(store_error)?;
        let record = written(outcome)?;
        self.invalidate(record.user_id).await;
        Ok(())
    }

    /// Every kept version of the transaction, oldest first, names decrypted — also after
    /// the transaction was deleted. A transaction recorded before history was kept starts
    /// with its first change since (an existing transaction with no change since answers
    /// an empty list). Names read back as the transaction's own read shows them; one that
    /// no configured key opens fails the read with `Internal`, as that read does.
    /// Errors: `NotFound` (no version kept and no such transaction), `StoreUnavailable`,
    /// `Internal`.
    #[tracing::instrument(target = "fido::span", name = "service.history", skip_all)]
    pub async fn history(&self, id: TransactionId) -> Result<Vec<TransactionVersion>, DomainError> {
        let entries = self.ports.history.history(id).await.map_err(store_error)?;
        if entries.is_empty() {
            // Recorded before history was kept, or never: the record tells.
            self.ports
                .store
                .get(id)
                .await
                .map_err(store_error)?
                .ok_or(DomainError::NotFound(NotFound::Transaction))?;
            return Ok(Vec::new());
        }
        let mut versions = Vec::with_capacity(entries.len());
        for entry in entries {
            let name = self.open_name(id, &entry.record.full_name).await?;
            // Only an update has a record before; an unchanged name is not opened twice.
            let before_name = match &entry.before {
                Some(before) if before.full_name == entry.record.full_name => Some(name.clone()),
                Some(before) => Some(self.open_name(id, &before.full_name).await?),
                None => None,
            };
            versions.push(TransactionVersion::of(entry, name, before_name));
        }
        Ok(versions)
    }

    /// One page of the user's transactions that match the query's filter, newest first,
    /// read from the store (not cached: the cache holds encoded pages, see
    /// [`list_encoded`](Self::list_encoded)). Errors: `StoreUnavailable`, `Internal`.
    #[tracing::instrument(target = "fido::span", name = "service.list", skip_all)]
    pub async fn list(
        &self,
        user: UserId,
        query: ListQuery,
    ) -> Result<Page<Transaction>, DomainError> {
        let records = self
            .ports
            .store
            .list_by_user(user, query)
            .await
            .map_err(store_error)?;
        let mut data = Vec::with_capacity(records.data.len());
        for record in records.data {
            data.push(self.decrypt(record).await?);
        }
        Ok(Page {
            total: records.total,
            page: records.page,
            limit: records.limit,
            data,
            next: records.next,
            balance_after: None,
        })
    }

    /// The same page as [`list`](Self::list), encoded by the [`ReadEncoder`] and read
    /// through the cache (the key holds the filter and the window): a hit is handed back
    /// as it is. Concurrent misses on the same cache slot make one store call.
    /// Errors: `StoreUnavailable`, `Internal`.
    #[tracing::instrument(target = "fido::span", name = "service.list_encoded", skip_all)]
    pub async fn list_encoded(
        &self,
        user: UserId,
        query: ListQuery,
    ) -> Result<String, DomainError> {
        let key = CacheKey::list(user, query);
        let ttl = self.config.cache.list_ttl;
        let encoded = self
            .read_through(key, ttl, move |service| async move {
                let page = service.list(user, query).await?;
                service.encode(|e| e.encode_page(&page)).map(Some)
            })
            .await?;
        // A list is never empty in the cache's sense: an empty page is a page.
        encoded.ok_or(DomainError::Internal(InternalError::CorruptCacheEntry))
    }

    /// Up to `limit` of the user's transactions that match `filter`, newest first, after
    /// `after` (from the newest when `None`), names decrypted: one batch of an export.
    /// Never cached; a keyset read, so a whole export costs O(its size). Continue from the
    /// last item's [`Position`] until a batch is shorter than `limit`.
    /// Errors: `StoreUnavailable`, `Internal`.
    #[tracing::instrument(target = "fido::span", name = "service.export_batch", skip_all)]
    pub async fn export_batch(
        &self,
        user: UserId,
        filter: ListFilter,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<Transaction>, DomainError> {
        let records = self
            .ports
            .store
            .scan_by_user(user, filter, after, limit)
            .await
            .map_err(store_error)?;
        let mut data = Vec::with_capacity(records.len());
        for record in records {
            data.push(self.decrypt(record).await?);
        }
        Ok(data)
    }

    /// The user's statistics over `range`, computed by the store (not cached: see
    /// [`statistics_encoded`](Self::statistics_encoded)).
    /// Errors: `NotFound` when no transaction lies in the range; `StoreUnavailable`.
    #[tracing::instrument(target = "fido::span", name = "service.statistics", skip_all)]
    pub async fn statistics(
        &self,
        user: UserId,
        range: DateRange,
    ) -> Result<StatisticsSummary, DomainError> {
        self.summary(user, range)
            .await?
            .ok_or(DomainError::NotFound(NotFound::NoTransactionsInRange))
    }

    /// The same statistics, encoded by the [`ReadEncoder`] and read through the cache.
    /// Empty ranges are cached too: they cost as much to find as full ones.
    /// Errors: `NotFound` when no transaction lies in the range; `StoreUnavailable`.
    #[tracing::instrument(target = "fido::span", name = "service.statistics_encoded", skip_all)]
    pub async fn statistics_encoded(
        &self,
        user: UserId,
        range: DateRange,
    ) -> Result<String, DomainError> {
        let key = CacheKey::statistics(user, range);
        let ttl = self.config.cache.statistics_ttl;
        self.read_through(key, ttl, move |service| async move {
            match service.summary(user, range).await? {
                Some(summary) => service.encode(|e| e.encode_statistics(&summary)).map(Some),
                None => Ok(None),
            }
        })
        .await?
        .ok_or(DomainError::NotFound(NotFound::NoTransactionsInRange))
    }

    /// The user's totals per day, week or month over `range`, from the store (not cached:
    /// see [`series_encoded`](Self::series_encoded)). Errors: `TooManyPoints` past
    /// [`Series::MAX_POINTS`]; `StoreUnavailable`.
    #[tracing::instrument(target = "fido::span", name = "service.series", skip_all)]
    pub async fn series(
        &self,
        user: UserId,
        range: DateRange,
        granularity: Granularity,
    ) -> Result<Series, DomainError> {
        // The days, and the balance before the range (for each point's opening and
        // closing balance), read together.
        let days = async {
            self.ports
                .statistics
                .daily(user, range)
                .await
                .map_err(store_error)
        };
        let (days, opening) =
            futures_util::future::try_join(days, self.balance_before(user, range.start())).await?;
        Series::from_days(granularity, &days)
            .map(|series| series.opening_at(opening))
            .ok_or(DomainError::TooManyPoints {
                max: Series::MAX_POINTS,
            })
    }

    /// The same series, encoded by the [`ReadEncoder`] and read through the cache (with
    /// the same read-your-writes rule as every cached read). A user without transactions
    /// in the range gets a series without points.
    #[tracing::instrument(target = "fido::span", name = "service.series_encoded", skip_all)]
    pub async fn series_encoded(
        &self,
        user: UserId,
        range: DateRange,
        granularity: Granularity,
    ) -> Result<String, DomainError> {
        let key = CacheKey::series(user, range, granularity);
        let ttl = self.config.cache.statistics_ttl;
        let encoded = self
            .read_through(key, ttl, move |service| async move {
                let series = service.series(user, range, granularity).await?;
                service.encode(|e| e.encode_series(&series)).map(Some)
            })
            .await?;
        encoded.ok_or(DomainError::Internal(InternalError::CorruptCacheEntry))
    }

    async fn summary(
        &self,
        user: UserId,
        range: DateRange,
    ) -> Result<Option<StatisticsSummary>, DomainError> {
        let totals = self
            .ports
            .statistics
            .totals(user, range)
            .await
            .map_err(store_error)?;
        Ok(StatisticsSummary::from_totals(totals))
    }

    fn encode(
        &self,
        encode: impl FnOnce(&dyn ReadEncoder) -> Result<String, crate::ports::EncodeError>,
    ) -> Result<String, DomainError> {
        encode(self.ports.encoder.as_ref())
            .map_err(|e| DomainError::Internal(InternalError::Encode(e)))
    }

    /// Up to `limit` (1 to [`MAX_FEED_LIMIT`]) events after sequence `after`, in sequence
    /// order. Errors: `CursorExpired` when retention removed events after `after`;
    /// `CursorAhead` when `after` is above every sequence given so far;
    /// `EventsDisabled`; `StoreUnavailable`; `Internal`.
    #[tracing::instrument(target = "fido::span", name = "service.events", skip_all)]
    pub async fn events(&self, after: u64, limit: u32) -> Result<EventPage, DomainError> {
        if !self.ports.events.enabled() {
            return Err(DomainError::EventsDisabled);
        }
        let page = self
            .ports
            .events
            .events_after(after, limit.clamp(1, MAX_FEED_LIMIT))
            .await
            .map_err(store_error)?;
        if after < page.pruned_through {
            return Err(DomainError::CursorExpired {
                pruned_through: page.pruned_through,
            });
        }
        if after > page.last_sequence {
            return Err(DomainError::CursorAhead {
                last_sequence: page.last_sequence,
            });
        }
        Ok(page)
    }

    /// Drops the cached reads of the users whose transactions the feed's events after
    /// `after` are about — changes this process may not have made (an import, another
    /// process on the same store) — and returns the sequence to continue from. Reads up to
    /// [`FORGET_PAGES`] pages of the feed, so a caller that calls it a few times a second
    /// keeps up with a write storm. For a cache of this process's own: a shared cache is
    /// invalidated by whoever writes.
    /// Errors: those of [`TransactionService::events`].
    pub async fn forget_changed_since(&self, after: u64) -> Result<u64, DomainError> {
        let mut next = after;
        for _ in 0..FORGET_PAGES {
            let page = self.events(next, MAX_FEED_LIMIT).await?;
            let mut users: Vec<UserId> = page
                .events
                .iter()
                .filter_map(|e| e.event.user_id())
                .collect();
            users.sort_unstable();
            users.dedup();
            for user in users {
                self.invalidate(user).await;
            }
            next = page.events.last().map_or(next, |e| e.sequence);
            if page.events.len() < MAX_FEED_LIMIT as usize {
                break;
            }
        }
        Ok(next)
    }

    /// The feed's last sequence now (0 when events are off or nothing happened yet).
    pub async fn feed_end(&self) -> Result<u64, DomainError> {
        if !self.ports.events.enabled() {
            return Ok(0);
        }
        self.ports
            .events
            .events_after(0, 1)
            .await
            .map(|page| page.last_sequence)
            .map_err(store_error)
    }

    /// What has not yet entered the event feed ([`Backlog::unsequenced`] and the age of
    /// the oldest such event), for health reports of processes that run no relay: `None`
    /// when events are off.
    pub async fn feed_backlog(&self) -> Option<Result<Backlog, StoreError>> {
        if !self.ports.events.enabled() {
            return None;
        }
        Some(self.ports.events.backlog(&[]).await)
    }

    /// How many reads so far joined an identical read already under way instead of
    /// calling the store (single flight), for metrics.
    pub fn single_flight_joins(&self) -> u64 {
        self.flights.joins()
    }

    /// Asks the store and the cache whether they answer.
    pub async fn readiness(&self) -> Readiness {
        Readiness {
            store: self.ports.store.ping().await,
            cache: self.ports.cache.ping().await,
            quarantined: self.ports.store.quarantined().await.unwrap_or(0),
        }
    }

    async fn encrypt(&self, name: &FullName) -> Result<EncryptedName, DomainError> {
        self.ports
            .cipher
            .encrypt(name.expose())
            .await
            .map(EncryptedName::new)
            .map_err(cipher_error)
    }

    /// A stored name of transaction `id` (its own, or one its history keeps) in clear
    /// text, as reads show it.
    async fn open_name(
        &self,
        id: TransactionId,
        token: &EncryptedName,
    ) -> Result<FullName, DomainError> {
        let plain = self
            .ports
            .cipher
            .decrypt(token.as_str())
            .await
            .map_err(|e| {
                tracing::error!(transaction_id = %id, error = %e, "stored name cannot be decrypted");
                cipher_error(e)
            })?;
        Ok(FullName::from_stored(&plain))
    }

    async fn decrypt(&self, record: TransactionRecord) -> Result<Transaction, DomainError> {
        let name = self.open_name(record.id, &record.full_name).await?;
        Ok(reveal(record, name))
    }

    async fn invalidate(&self, user: UserId) {
        if let Err(e) = self.ports.cache.invalidate_user(user).await {
            cache_warning("invalidate", &e);
        }
    }
}

/// The transaction's date: the caller's, or now; never more than `skew` ahead.
fn check_date(
    new: &NewTransaction,
    now: Timestamp,
    skew: Duration,
) -> Result<Timestamp, DomainError> {
    let date = new.transaction_date.unwrap_or(now);
    if date > now.plus_millis(duration_millis(skew)) {
        return Err(DomainError::DateTooFarAhead { max: skew });
    }
    Ok(date)
}

fn written(outcome: Written) -> Result<TransactionRecord, DomainError> {
    match outcome {
        Written::Done(record) => Ok(record),
        Written::NotFound => Err(DomainError::NotFound(NotFound::Transaction)),
        Written::VersionMismatch => Err(DomainError::VersionMismatch),
    }
}

fn reveal(record: TransactionRecord, full_name: FullName) -> Transaction {
    Transaction {
        id: record.id,
        user_id: record.user_id,
        full_name,
        amount: record.amount,
        kind: record.kind,
        transaction_date: record.transaction_date,
        created_at: record.created_at,
        updated_at: record.updated_at,
        version: record.version,
    }
}

fn store_error(e: StoreError) -> DomainError {
    match e {
        StoreError::Unavailable(_) => DomainError::StoreUnavailable(e),
        StoreError::MigrationRequired(_) => DomainError::MigrationRequired(e),
        StoreError::Quarantined { documents } => DomainError::Quarantined { documents },
        other => DomainError::Internal(InternalError::Store(other)),
    }
}

fn cipher_error(e: CipherError) -> DomainError {
    DomainError::Internal(InternalError::Cipher(e))
}

/// Cache adapters log their own failures, rate-limited (a broken cache would otherwise
/// write a line per request); here they are only traced.
fn cache_warning(operation: &'static str, e: &CacheError) {
    tracing::debug!(operation, error = %e, "cache call failed; answering from the store");
}

fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
