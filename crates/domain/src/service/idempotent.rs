//! Idempotent creates: at most one transaction per `(scope, key)` for 24 hours.
//!
//! The protocol (claim, create, complete; leases for crashed holders) is described in
//! [`crate::idempotency`]. The saved answer is a snapshot of the created transaction,
//! encrypted (it holds the customer's name), in a storage form frozen here.

use std::sync::Arc;
use std::time::Duration;

use super::{check_date, cipher_error, duration_millis, reveal, store_error, TransactionService};
use crate::amount::Amount;
use crate::error::{DomainError, InternalError};
use crate::history::Actor;
use crate::id::{TransactionId, UserId};
use crate::idempotency::{Claim, ClaimRequest, IdempotencyKey};
use crate::name::FullName;
use crate::ports::StoreError;
use crate::time::Timestamp;
use crate::transaction::{NewTransaction, Transaction, TransactionType};

/// How long a pending idempotency claim belongs to the request that made it.
const IDEMPOTENCY_LEASE: Duration = Duration::from_secs(30);
/// How long an idempotency key is remembered.
const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Claims one create makes at most: a lapsed claim is reported, then taken over.
const TAKE_OVER_ROUNDS: u32 = 3;

impl TransactionService {
    /// Like [`create`](Self::create), but at most once per `(scope, key)` for 24 hours: a
    /// repeat of the same request returns the transaction the first one created (and
    /// `true`), whether the first finished or crashed after storing it.
    ///
    /// Errors, besides `create`'s: `IdempotencyKeyReused` when the key was used with a
    /// different request; `IdempotencyInFlight` while another request with the key is
    /// being processed.
    #[tracing::instrument(target = "fido::span", name = "service.create_idempotent", skip_all)]
    pub async fn create_idempotent(
        &self,
        new: NewTransaction,
        scope: &str,
        key: IdempotencyKey,
        actor: &Actor,
    ) -> Result<(Transaction, bool), DomainError> {
        self.writable()?;
        let now = self.ports.clock.now();
        check_date(&new, now, self.config.max_future_skew)?;
        let canonical = canonical_request(&new);
        let sealed = self
            .ports
            .cipher
            .encrypt(&canonical)
            .await
            .map_err(cipher_error)?;
        let mut request = ClaimRequest {
            scope: scope.to_owned(),
            key: key.clone(),
            fingerprint: sealed,
            candidate_id: TransactionId::generate(now),
            now,
            lease_until: now.plus_millis(duration_millis(IDEMPOTENCY_LEASE)),
            expires_at: now.plus_millis(duration_millis(IDEMPOTENCY_RETENTION)),
            take_over: None,
        };
        let mut rounds = 0;
        let transaction_id = loop {
            rounds += 1;
            let claim = self
                .ports
                .idempotency
                .claim(request.clone())
                .await
                .map_err(store_error)?;
            match claim {
                Claim::Acquired { transaction_id } => break transaction_id,
                Claim::TakenOver {
                    transaction_id,
                    fingerprint,
                } => {
                    // Only the same request may finish what a crashed one started.
                    self.same_request(&fingerprint, &canonical).await?;
                    break transaction_id;
                }
                Claim::Lapsed {
                    fingerprint,
                    lease_until,
                    ..
                } => {
                    // The fingerprint decides before the lease is taken: a different
                    // request is refused and the claim stays exactly as it was.
                    self.same_request(&fingerprint, &canonical).await?;
                    if rounds >= TAKE_OVER_ROUNDS {
                        // Others keep taking it over and lapsing: answer as for a busy key.
                        return Err(DomainError::IdempotencyInFlight);
                    }
                    request.take_over = Some(lease_until);
                }
                Claim::InFlight { fingerprint } => {
                    self.same_request(&fingerprint, &canonical).await?;
                    return Err(DomainError::IdempotencyInFlight);
                }
                Claim::Completed {
                    fingerprint,
                    snapshot,
                } => {
                    self.same_request(&fingerprint, &canonical).await?;
                    return Ok((self.open_snapshot(&snapshot).await?, true));
                }
            }
        };
        let created = self
            .create_claimed(transaction_id, &new, now, (scope, &key), actor)
            .await?;
        self.save_snapshot(scope, key, &created).await;
        Ok((created, false))
    }

    /// `Ok` when the held fingerprint is this request's; `IdempotencyKeyReused` when it is
    /// another's. A sealed fingerprint is opened with any configured key; release 1's
    /// HMAC fingerprints are checked under every configured key.
    async fn same_request(&self, held: &str, canonical: &str) -> Result<(), DomainError> {
        let same = if is_legacy_fingerprint(held) {
            self.ports
                .cipher
                .fingerprint_matches(canonical, held)
                .await
                .map_err(cipher_error)?
        } else {
            // A seal no configured key opens is a key dropped too early: internal, logged.
            self.ports
                .cipher
                .decrypt(held)
                .await
                .map_err(cipher_error)?
                == canonical
        };
        if same {
            Ok(())
        } else {
            Err(DomainError::IdempotencyKeyReused)
        }
    }

    /// Creates the transaction of a claimed key; if a previous holder of the claim already
    /// stored it (the insert reports a duplicate), that record is the result.
    async fn create_claimed(
        &self,
        id: TransactionId,
        new: &NewTransaction,
        now: Timestamp,
        (scope, key): (&str, &IdempotencyKey),
        actor: &Actor,
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
        match self.ports.store.insert(record.clone(), actor.clone()).await {
            Ok(()) => {
                self.invalidate(new.user_id).await;
                self.owners.remember(record.id, record.user_id);
                Ok(reveal(record, new.full_name.clone()))
            }
            Err(StoreError::Duplicate) => self.get(id).await,
            // Unknown whether it was written: keep the claim; a retry after the lease
            // either finds the record (duplicate) or writes it.
            Err(e) => Err(store_error(e)),
        }
    }

    async fn save_snapshot(&self, scope: &str, key: IdempotencyKey, created: &Transaction) {
        let json = match serde_json::to_string(&Snapshot::of(created)) {
            Ok(json) => json,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise an idempotency snapshot");
                return;
            }
        };
        let result = match self.ports.cipher.encrypt(&json).await {
            Ok(snapshot) => self
                .ports
                .idempotency
                .complete(scope.to_owned(), key, snapshot)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            // The transaction exists; a retry after the lease will find it and complete.
            tracing::warn!(error = %e, "could not save the idempotency result");
        }
    }

    async fn open_snapshot(&self, snapshot: &str) -> Result<Transaction, DomainError> {
        let json = self
            .ports
            .cipher
            .decrypt(snapshot)
            .await
            .map_err(cipher_error)?;
        let saved: Snapshot = serde_json::from_str(&json)
            .map_err(|e| DomainError::Internal(InternalError::Snapshot(Arc::new(e))))?;
        Ok(saved.into_transaction())
    }
}

/// Release 1's fingerprints: an HMAC-SHA-256 as 64 lowercase hex characters (a sealed
/// fingerprint is a Fernet token, never that).
pub(super) fn is_legacy_fingerprint(held: &str) -> bool {
    held.len() == 64
        && held
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Everything that makes two creates "the same request", in a fixed form.
pub(super) fn canonical_request(new: &NewTransaction) -> String {
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

/// The saved answer of an idempotent create, as stored (encrypted) by the idempotency
/// store. Its field names are a storage format written by earlier releases: frozen.
#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    id: TransactionId,
    user_id: UserId,
    full_name: FullName,
    transaction_amount: Amount,
    transaction_type: TransactionType,
    transaction_date: Timestamp,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
}

impl Snapshot {
    fn of(t: &Transaction) -> Self {
        Self {
            id: t.id,
            user_id: t.user_id,
            full_name: t.full_name.clone(),
            transaction_amount: t.amount,
            transaction_type: t.kind,
            transaction_date: t.transaction_date,
            created_at: t.created_at,
            updated_at: t.updated_at,
            version: t.version,
        }
    }

    fn into_transaction(self) -> Transaction {
        Transaction {
            id: self.id,
            user_id: self.user_id,
            full_name: self.full_name,
            amount: self.transaction_amount,
            kind: self.transaction_type,
            transaction_date: self.transaction_date,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        }
    }
}
