//! Finding a user's transactions: which ones ([`ListFilter`]), and where a page starts
//! ([`Window`]: a numbered [`PageRequest`], or a keyset [`Position`] — the
//! `(transaction_date, id)` of the last item already seen).
//!
//! Listing order is always `transaction_date` descending, then `id` descending; a position
//! therefore names a point in that order, and "after a position" is every item strictly
//! below it. A walk by positions never skips or repeats an item that existed throughout,
//! whatever is inserted or deleted between pages, and costs O(limit) per page at any depth.

use crate::amount::Amount;
use crate::id::{TransactionId, UserId};
use crate::time::{DateRange, Timestamp};
use crate::transaction::{TransactionRecord, TransactionType};

/// Which part of a [`PageRequest`] is out of range.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum PageRequestError {
    /// The page number is not between 1 and [`PageRequest::MAX_PAGE`].
    #[error("must be an integer between 1 and 2147483647")]
    Page,
    /// The page size is not between 1 and [`PageRequest::MAX_LIMIT`].
    #[error("must be an integer between 1 and 100")]
    Limit,
}

/// A validated page request: `page >= 1`, `1 <= limit <= 100`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PageRequest {
    page: u32,
    limit: u32,
}

impl PageRequest {
    /// The largest page size.
    pub const MAX_LIMIT: u32 = 100;
    /// The default page size.
    pub const DEFAULT_LIMIT: u32 = 10;

    /// The largest page number (the largest 32-bit signed integer, as documented).
    pub const MAX_PAGE: u32 = 2_147_483_647;

    /// Validates page and limit, saying which is out of range.
    pub fn new(page: u64, limit: u64) -> Result<Self, PageRequestError> {
        let page = u32::try_from(page)
            .ok()
            .filter(|p| (1..=Self::MAX_PAGE).contains(p))
            .ok_or(PageRequestError::Page)?;
        let limit = u32::try_from(limit)
            .ok()
            .filter(|l| (1..=Self::MAX_LIMIT).contains(l))
            .ok_or(PageRequestError::Limit)?;
        Ok(Self { page, limit })
    }

    /// The 1-based page number.
    pub const fn page(&self) -> u32 {
        self.page
    }

    /// The page size.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// How many items precede this page.
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.limit)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 1,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// Why a filter cannot be built.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum FilterError {
    /// `min_amount` is above `max_amount`.
    #[error("min_amount must not be above max_amount")]
    AmountBounds,
}

/// Which of a user's transactions a listing or an export covers; every part is optional
/// and the parts combine with AND. Date and amount bounds are inclusive.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct ListFilter {
    kind: Option<TransactionType>,
    dates: DateRange,
    min_amount: Option<Amount>,
    max_amount: Option<Amount>,
}

impl ListFilter {
    /// Every transaction.
    pub const fn all() -> Self {
        Self {
            kind: None,
            dates: DateRange::ALL,
            min_amount: None,
            max_amount: None,
        }
    }

    /// A filter; `min_amount > max_amount` is refused.
    pub fn new(
        kind: Option<TransactionType>,
        dates: DateRange,
        min_amount: Option<Amount>,
        max_amount: Option<Amount>,
    ) -> Result<Self, FilterError> {
        if let (Some(min), Some(max)) = (min_amount, max_amount) {
            if min > max {
                return Err(FilterError::AmountBounds);
            }
        }
        Ok(Self {
            kind,
            dates,
            min_amount,
            max_amount,
        })
    }

    /// Only credits or only debits, when set.
    pub const fn kind(&self) -> Option<TransactionType> {
        self.kind
    }

    /// The inclusive bounds on `transaction_date`.
    pub const fn dates(&self) -> DateRange {
        self.dates
    }

    /// The inclusive lower bound on the amount, when set.
    pub const fn min_amount(&self) -> Option<Amount> {
        self.min_amount
    }

    /// The inclusive upper bound on the amount, when set.
    pub const fn max_amount(&self) -> Option<Amount> {
        self.max_amount
    }

    /// Whether `record` passes the filter (what every store computes in its query).
    pub fn matches(&self, record: &TransactionRecord) -> bool {
        self.kind.is_none_or(|k| k == record.kind)
            && self.dates.contains(record.transaction_date)
            && self.min_amount.is_none_or(|m| record.amount >= m)
            && self.max_amount.is_none_or(|m| record.amount <= m)
    }

    /// Every transaction dated in `dates`.
    pub const fn within(dates: DateRange) -> Self {
        Self {
            kind: None,
            dates,
            min_amount: None,
            max_amount: None,
        }
    }

    /// Whether running balances can be given for a listing with this filter: only when it
    /// leaves every transaction of its date range in (no type or amount bound), since a
    /// balance counts every transaction. Errors: `RunningBalanceFiltered`.
    pub fn allows_running_balance(&self) -> Result<(), crate::error::DomainError> {
        if self.kind.is_none() && self.min_amount.is_none() && self.max_amount.is_none() {
            Ok(())
        } else {
            Err(crate::error::DomainError::RunningBalanceFiltered)
        }
    }

    /// A canonical text of the filter, one form per filter and no two filters alike:
    /// `t<credit|debit|->s<ms|->e<ms|->a<cents|->b<cents|->`. Part of cache keys and
    /// what a cursor is bound to.
    pub fn render(&self) -> String {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        format!(
            "t{}s{}e{}a{}b{}",
            opt(self.kind.map(|k| k.as_str().to_owned())),
            opt(self.dates.start().map(|t| t.as_millis().to_string())),
            opt(self.dates.end().map(|t| t.as_millis().to_string())),
            opt(self.min_amount.map(|a| a.cents().to_string())),
            opt(self.max_amount.map(|a| a.cents().to_string())),
        )
    }
}

/// A point in the listing order: the `(transaction_date, id)` of an item.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Position {
    /// The item's `transaction_date`.
    pub date: Timestamp,
    /// The item's id (breaks ties between equal dates).
    pub id: TransactionId,
}

impl Position {
    /// The position of `record`.
    pub fn of(record: &TransactionRecord) -> Self {
        Self {
            date: record.transaction_date,
            id: record.id,
        }
    }

    /// Whether `record` comes after this position in the listing order (newest first).
    pub fn precedes(&self, record: &TransactionRecord) -> bool {
        (record.transaction_date, record.id) < (self.date, self.id)
    }
}

/// Which part of the matching items a listing returns.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Window {
    /// A numbered page (skips `(page - 1) * limit` items: fine near the start).
    Page(PageRequest),
    /// Up to `limit` items after a position (from the first item when `None`): the
    /// keyset way, O(limit) at any depth.
    After {
        /// The last item already seen.
        after: Option<Position>,
        /// How many items, 1 to [`PageRequest::MAX_LIMIT`].
        limit: u32,
    },
}

impl Window {
    /// The page size.
    pub const fn limit(&self) -> u32 {
        match self {
            Self::Page(p) => p.limit(),
            Self::After { limit, .. } => *limit,
        }
    }
}

/// A listing: a filter and a window.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ListQuery {
    /// Which transactions.
    pub filter: ListFilter,
    /// Which part of them.
    pub window: Window,
}

impl ListQuery {
    /// A numbered page of every transaction (the original listing).
    pub fn page(page: PageRequest) -> Self {
        Self {
            filter: ListFilter::all(),
            window: Window::Page(page),
        }
    }
}

/// Where the next page of a listing starts: the last item's position, bound to the user
/// and filter it was made for. The HTTP edge turns it into an opaque, authenticated
/// `next_cursor` and back.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Cursor {
    /// Whose listing.
    pub user: UserId,
    /// With which filter.
    pub filter: ListFilter,
    /// The last item returned.
    pub after: Position,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_bounds_and_names_the_field() {
        use PageRequestError::{Limit, Page};
        assert_eq!(PageRequest::new(0, 10), Err(Page));
        assert_eq!(PageRequest::new(1, 0), Err(Limit));
        assert_eq!(PageRequest::new(1, 101), Err(Limit));
        assert_eq!(PageRequest::new(u64::MAX, 10), Err(Page));
        assert_eq!(PageRequest::new(2_147_483_648, 10), Err(Page));
        assert!(PageRequest::new(2_147_483_647, 10).is_ok());
        let p = PageRequest::new(3, 25).unwrap();
        assert_eq!(p.offset(), 50);
        assert_eq!(PageRequest::default(), PageRequest::new(1, 10).unwrap());
    }
    use crate::id::ObjectId;
    use crate::name::EncryptedName;

    fn record(date: i64, id: u8, cents: u64, kind: TransactionType) -> TransactionRecord {
        let t = Timestamp::from_millis(date).unwrap();
        TransactionRecord {
            id: TransactionId::new(ObjectId::from_bytes([id; 12])),
            user_id: UserId::new(ObjectId::from_bytes([9; 12])),
            full_name: EncryptedName::new("x"),
            amount: Amount::from_cents(cents).unwrap(),
            kind,
            transaction_date: t,
            created_at: t,
            updated_at: t,
            version: 1,
        }
    }

    #[test]
    fn amount_bounds_must_be_ordered_and_filters_combine() {
        let a = |c| Some(Amount::from_cents(c).unwrap());
        assert_eq!(
            ListFilter::new(None, DateRange::ALL, a(2), a(1)),
            Err(FilterError::AmountBounds)
        );
        let dates = DateRange::new(
            Some(Timestamp::from_millis(10).unwrap()),
            Some(Timestamp::from_millis(20).unwrap()),
        )
        .unwrap();
        let f = ListFilter::new(Some(TransactionType::Debit), dates, a(100), a(100)).unwrap();
        assert!(f.matches(&record(10, 1, 100, TransactionType::Debit)));
        assert!(f.matches(&record(20, 1, 100, TransactionType::Debit)));
        assert!(!f.matches(&record(21, 1, 100, TransactionType::Debit)));
        assert!(!f.matches(&record(15, 1, 101, TransactionType::Debit)));
        assert!(!f.matches(&record(15, 1, 100, TransactionType::Credit)));
        assert!(ListFilter::all().matches(&record(0, 1, 0, TransactionType::Credit)));
    }

    #[test]
    fn renders_tell_every_filter_apart() {
        let a = |c| Some(Amount::from_cents(c).unwrap());
        let u = DateRange::ALL;
        let filters = [
            ListFilter::all(),
            ListFilter::new(Some(TransactionType::Credit), u, None, None).unwrap(),
            ListFilter::new(None, u, a(1), None).unwrap(),
            ListFilter::new(None, u, None, a(1)).unwrap(),
            ListFilter::new(
                None,
                DateRange::new(Some(Timestamp::from_millis(1).unwrap()), None).unwrap(),
                None,
                None,
            )
            .unwrap(),
            ListFilter::new(
                None,
                DateRange::new(None, Some(Timestamp::from_millis(1).unwrap())).unwrap(),
                None,
                None,
            )
            .unwrap(),
        ];
        let rendered: std::collections::HashSet<String> =
            filters.iter().map(ListFilter::render).collect();
        assert_eq!(rendered.len(), filters.len());
    }

    #[test]
    fn a_position_precedes_older_items_and_equal_dates_with_smaller_ids() {
        let p = Position::of(&record(10, 5, 1, TransactionType::Credit));
        assert!(p.precedes(&record(9, 9, 1, TransactionType::Credit)));
        assert!(p.precedes(&record(10, 4, 1, TransactionType::Credit)));
        assert!(!p.precedes(&record(10, 5, 1, TransactionType::Credit)));
        assert!(!p.precedes(&record(11, 1, 1, TransactionType::Credit)));
    }
}
