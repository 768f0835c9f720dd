//! The [`IdempotencyStore`] port: claims decided by the domain, executed in the
//! writer's savepoint.

use async_trait::async_trait;
use fido_domain::{
    Claim, ClaimRequest, ClaimStep, HeldClaim, IdempotencyKey, IdempotencyStore, SealedKey,
    StoreError, Timestamp, TransactionId,
};
use rusqlite::OptionalExtension;

use crate::errors::conversion;
use crate::rows::object_id;
use crate::SqliteStore;

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
