//! Key rotation: re-encrypting stored names with the primary key, online and resumable.

use super::idempotent::is_legacy_fingerprint;
use super::{cipher_error, store_error, TransactionService};
use crate::error::DomainError;
use crate::id::TransactionId;
use crate::idempotency::SealedKey;
use crate::name::EncryptedName;
use crate::ports::CipherError;

/// How far a key rotation ([`TransactionService::reencrypt_names`]) has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReencryptProgress {
    /// Records looked at.
    pub scanned: u64,
    /// Records whose name was re-encrypted with the primary key.
    pub changed: u64,
    /// Records changed by another writer while this ran (their new token already uses the
    /// primary key, so they were left alone).
    pub skipped: u64,
    /// Records no configured key could decrypt (logged by id).
    pub unreadable: u64,
    /// The last id processed: pass it as `after` to resume.
    pub last_id: Option<TransactionId>,
}

impl TransactionService {
    /// Re-encrypts every stored name whose token was made with an older key, in batches of
    /// `batch_size`, in id order after `after`. Safe while the service serves traffic: each
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
}

/// How far re-sealing the idempotency records
/// ([`TransactionService::reencrypt_idempotency_records`]) has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResealProgress {
    /// Records looked at.
    pub scanned: u64,
    /// Records whose fingerprint or saved answer was re-encrypted with the primary key.
    pub changed: u64,
    /// Records that changed while this ran (completed meanwhile): left alone, their new
    /// parts are already sealed with the primary key.
    pub skipped: u64,
    /// Records with a part no configured key opens (logged, by scope only).
    pub unreadable: u64,
}

impl TransactionService {
    /// Re-encrypts the encrypted parts of every idempotency record — the sealed request
    /// fingerprint and the saved answer, which holds the customer's name — with the primary
    /// key, so that dropping an old key loses no saved answer and breaks no retry. Records
    /// live a day at most, so this pass is short; it is safe to run again (records already
    /// sealed with the primary key are left alone). Calls `progress` after each batch.
    /// Errors: `StoreUnavailable`; `Internal` when the cipher cannot work at all.
    pub async fn reencrypt_idempotency_records(
        &self,
        batch_size: u32,
        mut progress: impl FnMut(&ResealProgress) + Send,
    ) -> Result<ResealProgress, DomainError> {
        let mut done = ResealProgress::default();
        let mut after = None;
        loop {
            let batch = self
                .ports
                .idempotency
                .sealed_after(after.take(), batch_size.max(1))
                .await
                .map_err(store_error)?;
            let Some(last) = batch.last() else { break };
            let next = (last.scope.clone(), last.key.clone());
            for record in batch {
                done.scanned += 1;
                match self.reseal(&record).await? {
                    Resealed::Unchanged => {}
                    Resealed::Unreadable => done.unreadable += 1,
                    Resealed::Changed(new) => {
                        let replaced = self
                            .ports
                            .idempotency
                            .replace_sealed(record, new)
                            .await
                            .map_err(store_error)?;
                        if replaced {
                            done.changed += 1;
                        } else {
                            done.skipped += 1;
                        }
                    }
                }
            }
            after = Some(next);
            progress(&done);
        }
        Ok(done)
    }

    /// The record with its parts re-encrypted under the primary key, if any needs it.
    async fn reseal(&self, record: &SealedKey) -> Result<Resealed, DomainError> {
        let fingerprint = self.reencrypt_part(&record.fingerprint, true).await?;
        let snapshot = match &record.snapshot {
            Some(s) => self.reencrypt_part(s, false).await?,
            None => Part::Current,
        };
        let fresh = |part: Part, current: &str| match part {
            Part::Fresh(token) => token,
            _ => current.to_owned(),
        };
        Ok(match (fingerprint, snapshot) {
            (Part::Unreadable, _) | (_, Part::Unreadable) => {
                tracing::error!(scope = %record.scope, "an idempotency record cannot be decrypted with any configured key");
                Resealed::Unreadable
            }
            (Part::Current, Part::Current) => Resealed::Unchanged,
            (fingerprint, snapshot) => Resealed::Changed(SealedKey {
                fingerprint: fresh(fingerprint, &record.fingerprint),
                snapshot: record.snapshot.as_deref().map(|s| fresh(snapshot, s)),
                ..record.clone()
            }),
        })
    }

    /// One encrypted part under the primary key. Release 1's HMAC fingerprints are not
    /// tokens: left as they are (they expire within a day).
    async fn reencrypt_part(&self, token: &str, fingerprint: bool) -> Result<Part, DomainError> {
        if fingerprint && is_legacy_fingerprint(token) {
            return Ok(Part::Current);
        }
        match self.ports.cipher.reencrypt(token).await {
            Ok(None) => Ok(Part::Current),
            Ok(Some(fresh)) => Ok(Part::Fresh(fresh)),
            Err(CipherError::InvalidToken) => Ok(Part::Unreadable),
            Err(e) => Err(cipher_error(e)),
        }
    }
}

/// What re-sealing one idempotency record comes to.
enum Resealed {
    Unchanged,
    Unreadable,
    Changed(SealedKey),
}

/// One encrypted part of a record.
enum Part {
    /// Already under the primary key (or not a token).
    Current,
    /// No configured key opens it.
    Unreadable,
    /// Re-encrypted under the primary key.
    Fresh(String),
}

/// Re-encrypts the names kept in the transactions' history (each version's record, and an
/// update's record before) whose tokens were made with an older key, in batches of
/// `batch_size` in `(transaction id, version)` order: the history's part of a key
/// rotation, after [`TransactionService::reencrypt_names`]. Versions never change once
/// written, so each changed version is written back whole. Counts versions in the
/// [`ReencryptProgress`] (`last_id`: the transaction of the last batch's last version);
/// calls `progress` after each batch. Runs whole each time (what is already under the
/// primary key is skipped cheaply).
/// Errors: `StoreUnavailable`; `Internal` when the cipher cannot work at all.
pub async fn reencrypt_history(
    transfer: &dyn crate::ports::StoreTransfer,
    cipher: &dyn crate::ports::FieldCipher,
    batch_size: u32,
    mut progress: impl FnMut(&ReencryptProgress) + Send,
) -> Result<ReencryptProgress, DomainError> {
    let mut done = ReencryptProgress::default();
    let mut after = None;
    loop {
        let batch = transfer
            .history_after(after, batch_size.max(1))
            .await
            .map_err(store_error)?;
        let Some(last) = batch.last() else { break };
        after = Some((last.transaction_id, last.version));
        done.last_id = Some(last.transaction_id);
        let mut changed = Vec::new();
        for mut entry in batch {
            done.scanned += 1;
            let mut fresh = false;
            let mut readable = true;
            for record in std::iter::once(&mut entry.record).chain(entry.before.as_mut()) {
                match cipher.reencrypt(record.full_name.as_str()).await {
                    Ok(None) => {}
                    Ok(Some(token)) => {
                        record.full_name = EncryptedName::new(token);
                        fresh = true;
                    }
                    Err(CipherError::InvalidToken) => readable = false,
                    Err(e) => return Err(cipher_error(e)),
                }
            }
            if !readable {
                tracing::error!(transaction_id = %entry.transaction_id, version = entry.version,
                    "a name in a transaction's history cannot be decrypted with any configured key");
                done.unreadable += 1;
            } else if fresh {
                changed.push(entry);
            }
        }
        done.changed += changed.len() as u64;
        if !changed.is_empty() {
            transfer.put_history(changed).await.map_err(store_error)?;
        }
        progress(&done);
    }
    Ok(done)
}
