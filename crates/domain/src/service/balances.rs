//! Balances: what a user holds at an instant, from the same totals as the statistics
//! (whole days from the daily roll-ups where the store keeps them, the partial day from
//! rows), so the cost grows with the days, not with the transactions.

use super::{store_error, TransactionService};
use crate::amount::MoneySum;
use crate::cache_key::CacheKey;
use crate::error::{DomainError, InternalError};
use crate::id::UserId;
use crate::statistics::Balance;
use crate::time::{DateRange, Timestamp};

impl TransactionService {
    /// The instant a balance is taken at: `at`, or by default the last millisecond of the
    /// current second (reads within one second share a cache entry, and a transaction
    /// recorded before the read, dated now, is always counted). Errors: `TooFarAhead`
    /// when `at` lies more than [`Balance::MAX_AHEAD_MS`] past the clock.
    pub fn balance_instant(&self, at: Option<Timestamp>) -> Result<Timestamp, DomainError> {
        let now = self.ports.clock.now();
        match at {
            Some(at) if at > now.plus_millis(Balance::MAX_AHEAD_MS) => {
                Err(DomainError::TooFarAhead)
            }
            Some(at) => Ok(at),
            None => {
                let ms = now.as_millis();
                Ok(now.plus_millis(999 - ms.rem_euclid(1000)))
            }
        }
    }

    /// `user`'s balance at `at` (see [`balance_instant`](Self::balance_instant) for the
    /// default), from the store. A user without transactions has a balance of zero.
    /// Errors: `TooFarAhead`; `StoreUnavailable`.
    #[tracing::instrument(target = "fido::span", name = "service.balance", skip_all)]
    pub async fn balance(
        &self,
        user: UserId,
        at: Option<Timestamp>,
    ) -> Result<Balance, DomainError> {
        let as_of = self.balance_instant(at)?;
        self.balance_at(user, as_of).await
    }

    /// What every transaction of `user` dated before `start` adds up to (zero without a
    /// start: nothing lies before the beginning).
    pub(super) async fn balance_before(
        &self,
        user: UserId,
        start: Option<Timestamp>,
    ) -> Result<MoneySum, DomainError> {
        let Some(start) = start else {
            return Ok(MoneySum::ZERO);
        };
        let before = start.plus_millis(-1);
        if before >= start {
            // The earliest instant there is: nothing before it.
            return Ok(MoneySum::ZERO);
        }
        Ok(self.balance_at(user, before).await?.balance())
    }

    async fn balance_at(&self, user: UserId, as_of: Timestamp) -> Result<Balance, DomainError> {
        let totals = self
            .ports
            .statistics
            .totals(user, DateRange::until(as_of))
            .await
            .map_err(store_error)?;
        Ok(Balance::from_totals(user, as_of, &totals))
    }

    /// The same balance, encoded by the [`ReadEncoder`](crate::ReadEncoder) and read
    /// through the cache: a write of the user, on any instance, is seen by the next read.
    /// Errors: `TooFarAhead`; `StoreUnavailable`.
    #[tracing::instrument(target = "fido::span", name = "service.balance_encoded", skip_all)]
    pub async fn balance_encoded(
        &self,
        user: UserId,
        at: Option<Timestamp>,
    ) -> Result<String, DomainError> {
        let as_of = self.balance_instant(at)?;
        let key = CacheKey::balance(user, as_of);
        let ttl = self.config.cache.statistics_ttl;
        self.read_through(key, ttl, move |service| async move {
            let balance = service.balance_at(user, as_of).await?;
            service.encode(|e| e.encode_balance(&balance)).map(Some)
        })
        .await?
        .ok_or(DomainError::Internal(InternalError::CorruptCacheEntry))
    }
}
