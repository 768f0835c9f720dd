//! Pagination: what a caller asks for ([`PageRequest`]) and what it gets ([`Page`]).

use crate::id::UserId;
use crate::query::{Cursor, ListQuery, Position, Window};
use crate::transaction::TransactionRecord;

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

/// One page of results and the total number of matches.
#[derive(Clone, PartialEq, Debug)]
pub struct Page<T> {
    /// How many items match in all, across every page.
    pub total: u64,
    /// The 1-based page number; `None` when the page was asked for by position.
    pub page: Option<u32>,
    /// The page size asked for.
    pub limit: u32,
    /// This page's items, in the listing's order.
    pub data: Vec<T>,
    /// Where the next page starts, when more items match after this page's last one.
    pub next: Option<Cursor>,
}

impl Page<TransactionRecord> {
    /// The page a store answers for `query`, from up to `limit + 1` rows in the listing
    /// order: the extra row is not returned, it only tells that a next page exists.
    pub fn of_rows(
        user: UserId,
        query: &ListQuery,
        total: u64,
        mut rows: Vec<TransactionRecord>,
    ) -> Self {
        let limit = query.window.limit();
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = rows.last().filter(|_| more).map(|last| Cursor {
            user,
            filter: query.filter,
            after: Position::of(last),
        });
        Self {
            total,
            page: match query.window {
                Window::Page(p) => Some(p.page()),
                Window::After { .. } => None,
            },
            limit,
            data: rows,
            next,
        }
    }
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
}
