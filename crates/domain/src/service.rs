//! The transaction service: the one place where the rules live.
//!
//! - Names are encrypted before any store sees them and decrypted on the way out.
//! - Lists and statistics are read through the cache; a cache error is logged and treated
//!   as a miss, so a broken cache slows the service down but never fails a request.
//! - Every write invalidates the user's cache entries once the store has accepted it, so a
//!   caller who got a 2xx reads its own write on every later list or statistics call.

mod single_flight;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use self::single_flight::SingleFlight;
use crate::cache_key::{CacheKey, CacheLookup, CachePolicy, CacheSlot};
use crate::error::DomainError;
use crate::id::{TransactionId, UserId};
use crate::idempotency::{Claim, ClaimRequest, IdempotencyKey};
use crate::name::{EncryptedName, FullName};
use crate::page::{Page, PageRequest};
use crate::ports::{
    Cache, CacheError, CipherError, Clock, FieldCipher, IdempotencyStore, StatisticsQuery,
    StoreError, TransactionStore,
};
use crate::statistics::StatisticsSummary;
use crate::time::DateRange;
use crate::time::Timestamp;
use crate::transaction::{
    NewTransaction, RecordPatch, Transaction, TransactionPatch, TransactionRecord, Written,
};

/// The message of the 404 for an unknown transaction.
pub const TRANSACTION_NOT_FOUND: &str = "Transaction not found";
/// The message of the 404 for statistics over an empty range.
pub const NO_TRANSACTIONS_IN_RANGE: &str =
    "User does not have any transactions or in the specified range";

/// Tunables of the service.
#[derive(Clone, Copy, Debug)]
pub struct ServiceConfig {
    /// Cache lifetimes.
    pub cache: CachePolicy,
    /// How far in the future a `transaction_date` may lie (default five minutes), to allow
    /// for clock skew between client and server.
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
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports { .. }")
    }
}

/// The health of the service's dependencies, for readiness probes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// `Ok` when the store answered; otherwise why not (for logs).
    pub store: Result<(), String>,
    /// `Ok` when the cache answered; otherwise why not (for logs).
    pub cache: Result<(), String>,
}

/// How far a key rotation ([`TransactionService::reencrypt_names`]) has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReencryptProgress {
    /// Records looked at.
    pub scanned: u64,
    /// Records whose name was re-encrypted with the primary key.
    pub changed: u64,
    /// Records changed through the API while this ran (their new token already uses the
    /// primary key, so they were left alone).
    pub skipped: u64,
    /// Records no configured key could decrypt (logged by id).
    pub unreadable: u64,
    /// The last id processed: pass it as `after` to resume.
    pub last_id: Option<TransactionId>,
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
}

impl TransactionService {
    /// Wires the service to its adapters.
    pub fn new(ports: Ports, config: ServiceConfig) -> Self {
        Self {
            ports,
            config,
            flights: Arc::default(),
        }
    }

    /// Records a new transaction and returns it with its name in clear text.
    ///
    /// Errors: `Validation` when `transaction_date` is too far in the future;
    /// `StoreUnavailable`; `Internal` when encryption fails.
    pub async fn create(&self, new: NewTransaction) -> Result<Transaction, DomainError> {
        let now = self.ports.clock.now();
        let record = self
            .new_record(TransactionId::generate(now), &new, now)
            .await?;
        self.ports
            .store
            .insert(record.clone())
            .await
            .map_err(store_error)?;
        self.invalidate(new.user_id).await;
        Ok(reveal(record, new.full_name))
    }

    /// Like [`create`](Self::create), but at most once per `(scope, key)` for 24 hours: a
    /// repeat of the same request returns the transaction the first one created (and
    /// `true`), whether the first finished or crashed after storing it.
    ///
    /// Errors, besides `create`'s: `Validation` on `Idempotency-Key` when the key was used
    /// with a different request; `IdempotencyInFlight` while another request with the key
    /// is being processed.
    pub async fn create_idempotent(
        &self,
        new: NewTransaction,
        scope: &str,
        key: IdempotencyKey,
    ) -> Result<(Transaction, bool), DomainError> {
        let now = self.ports.clock.now();
        check_date(&new, now, self.config.max_future_skew)?;
        let fingerprint = self
            .ports
            .cipher
            .fingerprint(&canonical_request(&new))
            .await
            .map_err(cipher_error)?;
        let claim = self
            .ports
            .idempotency
            .claim(ClaimRequest {
                scope: scope.to_owned(),
                key: key.clone(),
                fingerprint: fingerprint.clone(),
                candidate_id: TransactionId::generate(now),
                now,
                lease_until: now.plus_millis(duration_millis(IDEMPOTENCY_LEASE)),
                expires_at: now.plus_millis(duration_millis(IDEMPOTENCY_RETENTION)),
            })
            .await
            .map_err(store_error)?;
        let reused = || {
            DomainError::invalid(
                "Idempotency-Key",
                "was already used with a different request; use a new key",
            )
        };
        match claim {
            Claim::Completed {
                fingerprint: theirs,
                snapshot,
            } => {
                if theirs != fingerprint {
                    return Err(reused());
                }
                let json = self
                    .ports
                    .cipher
                    .decrypt(&snapshot)
                    .await
                    .map_err(cipher_error)?;
                let saved = serde_json::from_str(&json).map_err(|e| {
                    DomainError::Internal(format!("unreadable idempotency snapshot: {e}"))
                })?;
                Ok((saved, true))
            }
            Claim::InFlight {
                fingerprint: theirs,
            } if theirs != fingerprint => Err(reused()),
            Claim::InFlight { .. } => Err(DomainError::IdempotencyInFlight),
            Claim::Acquired { transaction_id } => {
                let created = self
                    .create_claimed(transaction_id, &new, now, scope, &key)
                    .await?;
                self.save_snapshot(scope, key, &created).await;
                Ok((created, false))
            }
        }
    }

    /// Creates the transaction of a claimed key; if a previous holder of the claim already
    /// stored it (the insert reports a duplicate), that record is the result.
    async fn create_claimed(
        &self,
        id: TransactionId,
        new: &NewTransaction,
        now: Timestamp,
        scope: &str,
        key: &IdempotencyKey,
    ) -> Result<Transaction, DomainError> {
        let record = match self.new_record(id, new, now).await {
            Ok(record) => record,
            Err(e) => {
                // Nothing was written: let a retry start afresh.
                if let Err(release) = self
                    .ports
                    .idempotency
                    .release(scope.to_owned(), key.clone())
                    .await
                {
                    tracing::warn!(error = %release, "could not release an idempotency claim");
                }
                return Err(e);
            }
        };
        match self.ports.store.insert(record.clone()).await {
            Ok(()) => {
                self.invalidate(new.user_id).await;
                Ok(reveal(record, new.full_name.clone()))
            }
            Err(StoreError::Duplicate) => self.get(id).await,
            // Unknown whether it was written: keep the claim; a retry after the lease
            // either finds the record (duplicate) or writes it.
            Err(e) => Err(store_error(e)),
        }
    }

    async fn save_snapshot(&self, scope: &str, key: IdempotencyKey, created: &Transaction) {
        let saved = match serde_json::to_string(created) {
            Ok(json) => self
                .ports
                .cipher
                .encrypt(&json)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let result = match saved {
            Ok(snapshot) => self
                .ports
                .idempotency
                .complete(scope.to_owned(), key, snapshot)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // The transaction exists; a retry after the lease will find it and complete.
            tracing::warn!(error = %e, "could not save the idempotency result");
        }
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
    pub async fn get(&self, id: TransactionId) -> Result<Transaction, DomainError> {
        let record = self
            .ports
            .store
            .get(id)
            .await
            .map_err(store_error)?
            .ok_or(DomainError::NotFound(TRANSACTION_NOT_FOUND))?;
        self.decrypt(record).await
    }

    /// Applies a non-empty patch and returns the transaction as it is now. `updated_at`
    /// moves and `version` grows by one; `created_at` does not move. With
    /// `expected_version`, applies only if the transaction is still at that version.
    /// Errors: `NotFound`, `VersionMismatch`, `StoreUnavailable`, `Internal`.
    pub async fn update(
        &self,
        id: TransactionId,
        patch: TransactionPatch,
        expected_version: Option<u64>,
    ) -> Result<Transaction, DomainError> {
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
        };
        let record = written(
            self.ports
                .store
                .update(id, record_patch)
                .await
                .map_err(store_error)?,
        )?;
        self.invalidate(record.user_id).await;
        match patch.full_name() {
            // The name we just wrote: no need to decrypt it again.
            Some(name) => Ok(reveal(record, name.clone())),
            None => self.decrypt(record).await,
        }
    }

    /// Deletes a transaction (only if still at `expected_version`, when given).
    /// Errors: `NotFound`, `VersionMismatch`, `StoreUnavailable`, `Internal`.
    pub async fn delete(
        &self,
        id: TransactionId,
        expected_version: Option<u64>,
    ) -> Result<(), DomainError> {
        let record = written(
            self.ports
                .store
                .delete(id, expected_version)
                .await
                .map_err(store_error)?,
        )?;
        self.invalidate(record.user_id).await;
        Ok(())
    }

    /// One page of the user's transactions, newest first (read through the cache).
    /// Concurrent misses on the same cache slot make one store call.
    /// Errors: `StoreUnavailable`, `Internal`.
    pub async fn list(
        &self,
        user: UserId,
        page: PageRequest,
    ) -> Result<Page<Transaction>, DomainError> {
        parse_json(&self.list_json(user, page).await?)
    }

    /// The same page as [`list`](Self::list), as the JSON document the cache holds
    /// (`{"total", "page", "limit", "data"}`, each transaction as [`Transaction`]
    /// serialises). For transports that send JSON anyway: a cache hit is handed over
    /// without being parsed and serialised again.
    pub async fn list_json(&self, user: UserId, page: PageRequest) -> Result<String, DomainError> {
        let ttl = self.config.cache.list_ttl;
        self.read_through(CacheKey::list(user, page), ttl, move |service| async move {
            service.list_from_store(user, page).await
        })
        .await
    }

    async fn list_from_store(
        &self,
        user: UserId,
        page: PageRequest,
    ) -> Result<Page<Transaction>, DomainError> {
        let records = self
            .ports
            .store
            .list_by_user(user, page)
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
        })
    }

    /// The user's statistics over `range` (read through the cache). Concurrent misses on
    /// the same cache slot make one store call.
    /// Errors: `NotFound` when no transaction lies in the range; `StoreUnavailable`.
    pub async fn statistics(
        &self,
        user: UserId,
        range: DateRange,
    ) -> Result<StatisticsSummary, DomainError> {
        parse_json(&self.statistics_json(user, range).await?)
    }

    /// The same statistics as [`statistics`](Self::statistics), as the JSON document the
    /// cache holds ([`StatisticsSummary`] serialised), handed over as is on a cache hit.
    pub async fn statistics_json(
        &self,
        user: UserId,
        range: DateRange,
    ) -> Result<String, DomainError> {
        let ttl = self.config.cache.statistics_ttl;
        // `None` ("null") is cached too: an empty range is as expensive to find as a full one.
        let json = self
            .read_through(
                CacheKey::statistics(user, range),
                ttl,
                move |service| async move {
                    let totals = service
                        .ports
                        .statistics
                        .totals(user, range)
                        .await
                        .map_err(store_error)?;
                    Ok(StatisticsSummary::from_totals(totals))
                },
            )
            .await?;
        if json == "null" {
            return Err(DomainError::NotFound(NO_TRANSACTIONS_IN_RANGE));
        }
        Ok(json)
    }

    /// The read-through path of every cached read, in the cache's JSON form: a hit is
    /// returned as is; a miss runs `load` once per cache slot (single flight), serialises
    /// the value and fills the slot; a failing cache means a plain load, not cached.
    async fn read_through<T, F, Fut>(
        &self,
        key: CacheKey,
        ttl: Duration,
        load: F,
    ) -> Result<String, DomainError>
    where
        T: Serialize + Send + 'static,
        F: FnOnce(TransactionService) -> Fut,
        Fut: std::future::Future<Output = Result<T, DomainError>> + Send + 'static,
    {
        let slot = match self.ports.cache.lookup(&key).await {
            Ok(CacheLookup::Hit(json)) => return Ok(json),
            Ok(CacheLookup::Miss(slot)) => Some(slot),
            Err(e) => {
                cache_warning("lookup", &e);
                None
            }
        };
        let loading = load(self.clone());
        let Some(slot) = slot else {
            // The cache failed: no slot to share a flight on; go straight to the store.
            return to_json(&loading.await?);
        };
        let flight_key = slot.as_str().to_owned();
        let service = self.clone();
        let work = async move {
            let json = to_json(&loading.await?)?;
            service.fill(slot, json.clone(), ttl).await;
            Ok(json)
        };
        self.flights.run(&flight_key, work).await
    }

    /// Re-encrypts every stored name whose token was made with an older key, in batches of
    /// `batch_size`, in id order after `after`. Safe while the API serves traffic: each
    /// replacement is a compare-and-set, and names do not change, so caches stay valid.
    /// Calls `progress` after each batch; resumable from its `last_id`.
    /// Errors: `StoreUnavailable`; `Internal` when the cipher cannot work at all.
    pub async fn reencrypt_names(
        &self,
        batch_size: u32,
        after: Option<TransactionId>,
        mut progress: impl FnMut(&ReencryptProgress) + Send,
    ) -> Result<ReencryptProgress, DomainError> {
        let mut done = ReencryptProgress {
            last_id: after,
            ..ReencryptProgress::default()
        };
        loop {
            let batch = self
                .ports
                .store
                .names_after(done.last_id, batch_size.max(1))
                .await
                .map_err(store_error)?;
            let Some((last, _)) = batch.last() else { break };
            let last = *last;
            for (id, token) in batch {
                done.scanned += 1;
                match self.ports.cipher.reencrypt(token.as_str()).await {
                    Ok(None) => {}
                    Ok(Some(fresh)) => {
                        let replaced = self
                            .ports
                            .store
                            .replace_name(id, token, EncryptedName::new(fresh))
                            .await
                            .map_err(store_error)?;
                        if replaced {
                            done.changed += 1;
                        } else {
                            done.skipped += 1;
                        }
                    }
                    Err(CipherError::InvalidToken) => {
                        tracing::error!(transaction_id = %id, "stored name cannot be decrypted with any configured key");
                        done.unreadable += 1;
                    }
                    Err(e) => return Err(cipher_error(e)),
                }
            }
            done.last_id = Some(last);
            progress(&done);
        }
        Ok(done)
    }

    /// Asks the store and the cache whether they answer.
    pub async fn readiness(&self) -> Readiness {
        Readiness {
            store: self.ports.store.ping().await.map_err(|e| e.to_string()),
            cache: self.ports.cache.ping().await.map_err(|e| e.to_string()),
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

    async fn decrypt(&self, record: TransactionRecord) -> Result<Transaction, DomainError> {
        let plain = self
            .ports
            .cipher
            .decrypt(record.full_name.as_str())
            .await
            .map_err(|e| {
                tracing::error!(transaction_id = %record.id, error = %e, "stored name cannot be decrypted");
                cipher_error(e)
            })?;
        let name = FullName::parse(&plain).map_err(|_| {
            DomainError::Internal(format!("stored name of {} is not a valid name", record.id))
        })?;
        Ok(reveal(record, name))
    }

    async fn fill(&self, slot: CacheSlot, json: String, ttl: Duration) {
        if let Err(e) = self.ports.cache.put(&slot, json, ttl).await {
            cache_warning("put", &e);
        }
    }

    async fn invalidate(&self, user: UserId) {
        if let Err(e) = self.ports.cache.invalidate_user(user).await {
            cache_warning("invalidate", &e);
        }
    }
}

/// How long a pending idempotency claim belongs to the request that made it.
const IDEMPOTENCY_LEASE: Duration = Duration::from_secs(30);
/// How long an idempotency key is remembered.
const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// The transaction's date: the caller's, or now; never more than `skew` ahead.
fn check_date(
    new: &NewTransaction,
    now: Timestamp,
    skew: Duration,
) -> Result<Timestamp, DomainError> {
    let date = new.transaction_date.unwrap_or(now);
    if date > now.plus_millis(duration_millis(skew)) {
        return Err(DomainError::invalid(
            "transaction_date",
            "must not be more than 5 minutes in the future",
        ));
    }
    Ok(date)
}

/// Everything that makes two creates "the same request", in a fixed form.
fn canonical_request(new: &NewTransaction) -> String {
    format!(
        "v1|{}|{}|{}|{}|{}",
        new.user_id,
        new.amount.cents(),
        new.kind.as_str(),
        new.transaction_date
            .map_or_else(|| "-".to_owned(), |d| d.as_millis().to_string()),
        new.full_name.expose(),
    )
}

fn written(outcome: Written) -> Result<TransactionRecord, DomainError> {
    match outcome {
        Written::Done(record) => Ok(record),
        Written::NotFound => Err(DomainError::NotFound(TRANSACTION_NOT_FOUND)),
        Written::VersionMismatch => Err(DomainError::VersionMismatch),
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, DomainError> {
    serde_json::to_string(value)
        .map_err(|e| DomainError::Internal(format!("cannot serialise: {e}")))
}

fn parse_json<T: DeserializeOwned>(json: &str) -> Result<T, DomainError> {
    serde_json::from_str(json)
        .map_err(|e| DomainError::Internal(format!("unreadable cached value: {e}")))
}

fn reveal(record: TransactionRecord, full_name: FullName) -> Transaction {
    Transaction {
        id: record.id,
        user_id: record.user_id,
        full_name,
        transaction_amount: record.amount,
        transaction_type: record.kind,
        transaction_date: record.transaction_date,
        created_at: record.created_at,
        updated_at: record.updated_at,
        version: record.version,
    }
}

fn store_error(e: StoreError) -> DomainError {
    match e {
        StoreError::Unavailable(m) => DomainError::StoreUnavailable(m),
        other => DomainError::Internal(other.to_string()),
    }
}

fn cipher_error(e: CipherError) -> DomainError {
    DomainError::Internal(e.to_string())
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
