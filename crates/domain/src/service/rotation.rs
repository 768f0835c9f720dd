//! Key rotation: re-encrypting stored names with the primary key, online and resumable.

use super::{cipher_error, store_error, TransactionService};
use crate::error::DomainError;
use crate::id::TransactionId;
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
