//! Balances: what a user holds at an instant, from the same totals as the statistics
//! (whole days from the daily roll-ups where the store keeps them, the partial day from
//! rows), so the cost grows with the days, not with the transactions.

use super::{store_error, TransactionService};
use crate::amount::MoneySum;
use crate::cache_key::CacheKey;
use crate::error::{DomainError, InternalError};
use crate::id::UserId;
use crate::page::Page;
use crate::query::{ListFilter, ListQuery, Position};
use crate::statistics::{signed, Balance, RunningBalance};
use crate::time::{DateRange, Timestamp};
use crate::transaction::Transaction;

/// Rows read per call when looking for transactions that share an instant.
const SAME_INSTANT_BATCH: u32 = 100;

impl TransactionService {
    /// The instant a balance is taken at: `at`, or by default the last millisecond of the
    /// current second (reads within one second share a cache entry, and a transaction
    /// recorded before the read, dated now, is always counted). Errors: `TooFarAhead`
    /// when `at` lies more than [`Balance::MAX_AHEAD_MS`] past the clock.
    fn balance_instant(&self, at: Option<Timestamp>) -> Result<Timestamp, DomainError> {
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

    /// `user`'s balance at `at` (by default the last millisecond of the current second),
    /// from the store. A user without transactions has a balance of zero.
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

    /// `user`'s balance right after the transaction at `position` in the balance order
    /// (`transaction_date`, then id — the listing's order reversed): the totals up to its
    /// instant, less the transactions of that same instant that come after it (rare:
    /// read in small batches).
    pub async fn balance_through(
        &self,
        user: UserId,
        position: Position,
    ) -> Result<MoneySum, DomainError> {
        let mut balance = self.balance_at(user, position.date).await?.balance();
        let same_instant = ListFilter::within(DateRange::instant(position.date));
        let mut after = None;
        loop {
            // Newest first: at one instant, the larger ids come first — those listed
            // before `position`, later in the balance order.
            let rows = self
                .ports
                .store
                .scan_by_user(user, same_instant, after, SAME_INSTANT_BATCH)
                .await
                .map_err(store_error)?;
            let full = rows.len() == SAME_INSTANT_BATCH as usize;
            for row in &rows {
                if row.id <= position.id {
                    return Ok(balance);
                }
                balance = balance.minus(signed(row.kind, row.amount));
            }
            match rows.last() {
                Some(last) if full => after = Some(Position::of(last)),
                _ => return Ok(balance),
            }
        }
    }

    /// A page of `user`'s transactions, as [`list`](Self::list) gives it, with the
    /// balance after each item: one balance look-up for the page's first item, then each
    /// next one is the one before less what that one added. Errors:
    /// `RunningBalanceFiltered` when the filter skips transactions by type or amount;
    /// `StoreUnavailable`, `Internal`.
    #[tracing::instrument(target = "fido::span", name = "service.list_with_balances", skip_all)]
    pub async fn list_with_balances(
        &self,
        user: UserId,
        query: ListQuery,
    ) -> Result<Page<Transaction>, DomainError> {
        query.filter.allows_running_balance()?;
        let mut page = self.list(user, query).await?;
        let balances = match page.data.first() {
            None => Vec::new(),
            Some(first) => {
                let mut walk = self.running_balance_from(user, query.filter, first).await?;
                page.data
                    .iter()
                    .map(|t| walk.step(t.kind, t.amount))
                    .collect()
            }
        };
        page.balance_after = Some(balances);
        Ok(page)
    }

    /// A walk of running balances down a listing of `user` with `filter` whose first
    /// item walked is `first` (a page's, or an export's). Errors:
    /// `RunningBalanceFiltered` when the filter skips transactions by type or amount;
    /// `StoreUnavailable`.
    pub async fn running_balance_from(
        &self,
        user: UserId,
        filter: ListFilter,
        first: &Transaction,
    ) -> Result<RunningBalance, DomainError> {
        filter.allows_running_balance()?;
        let top = Position {
            date: first.transaction_date,
            id: first.id,
        };
        Ok(RunningBalance::starting_at(
            self.balance_through(user, top).await?,
        ))
    }

    /// The same page, encoded by the [`ReadEncoder`](crate::ReadEncoder) and read through
    /// the cache (under a key of its own). Errors as [`list_with_balances`](Self::list_with_balances).
    #[tracing::instrument(
        target = "fido::span",
        name = "service.list_with_balances_encoded",
        skip_all
    )]
    pub async fn list_with_balances_encoded(
        &self,
        user: UserId,
        query: ListQuery,
    ) -> Result<String, DomainError> {
        query.filter.allows_running_balance()?;
        let key = CacheKey::list_with_balances(user, query);
        let ttl = self.config.cache.list_ttl;
        self.read_through(key, ttl, move |service| async move {
            let page = service.list_with_balances(user, query).await?;
            service.encode(|e| e.encode_page(&page)).map(Some)
        })
        .await?
        .ok_or(DomainError::Internal(InternalError::CorruptCacheEntry))
    }
}
