//! What a listing returns: one [`Page`] of results and the total (what it asks for, a
//! [`PageRequest`](crate::query::PageRequest), is with the other query types).

use crate::amount::MoneySum;
use crate::id::UserId;
use crate::query::{Cursor, ListQuery, Position, Window};
use crate::transaction::TransactionRecord;

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
    /// The user's balance after each item (same order as `data`), when asked for (see
    /// [`RunningBalance`](crate::RunningBalance)); `None` otherwise.
    pub balance_after: Option<Vec<MoneySum>>,
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
            balance_after: None,
        }
    }
}
