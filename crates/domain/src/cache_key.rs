//! What the service caches, and the handles a [`Cache`](crate::Cache) hands back.
//!
//! Keys are typed ([`CacheKey`]); every cache adapter renders them the same way through
//! [`CacheKey::render`] and adds its own prefix and the user's *generation*. A write bumps
//! the user's generation, which makes every older entry of that user unreachable in O(1).
//!
//! Race freedom: a lookup that misses returns a [`CacheSlot`] bound to the generation seen
//! *before* the store was read. If a write lands between that read and the `put`, the value
//! goes into the old generation, where no later reader looks. So a stale value can never be
//! cached under the current generation.

use std::time::Duration;

use crate::id::{TransactionId, UserId};
use crate::query::{ListQuery, Window};
use crate::statistics::Granularity;
use crate::time::DateRange;

/// The version of the service's framing of cached values; part of every key.
pub const CACHE_FORMAT: u32 = 2;

/// A cacheable read of one user's data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CacheKey {
    /// Whose data; invalidation is per user.
    pub user: UserId,
    /// Which read.
    pub entry: CacheEntry,
    /// The encoding of the cached value ([`ReadEncoder::format`](crate::ReadEncoder::format));
    /// empty by default.
    pub format: &'static str,
}

/// Which read a [`CacheKey`] stands for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CacheEntry {
    /// One page of the user's transaction list (filter and window).
    List(ListQuery),
    /// The user's statistics over a range.
    Statistics(DateRange),
    /// The user's time series over a range.
    Series(DateRange, Granularity),
    /// One of the user's transactions, by id (its owner never changes, so the entry lives
    /// under the owner's generation like every other read of the user's data).
    Transaction(TransactionId),
    /// The user's balance at an instant.
    Balance(crate::Timestamp),
    /// A list page with the balance after each item.
    ListWithBalances(ListQuery),
}

impl CacheKey {
    /// A list page of `user`.
    pub fn list(user: UserId, query: ListQuery) -> Self {
        Self {
            user,
            entry: CacheEntry::List(query),
            format: "",
        }
    }

    /// Statistics of `user` over `range`.
    pub fn statistics(user: UserId, range: DateRange) -> Self {
        Self {
            user,
            entry: CacheEntry::Statistics(range),
            format: "",
        }
    }

    /// The time series of `user` over `range`.
    pub fn series(user: UserId, range: DateRange, granularity: Granularity) -> Self {
        Self {
            user,
            entry: CacheEntry::Series(range, granularity),
            format: "",
        }
    }

    /// The transaction `id` of `user`.
    pub fn transaction(user: UserId, id: TransactionId) -> Self {
        Self {
            user,
            entry: CacheEntry::Transaction(id),
            format: "",
        }
    }

    /// A list page of `user` with the balance after each item.
    pub fn list_with_balances(user: UserId, query: ListQuery) -> Self {
        Self {
            user,
            entry: CacheEntry::ListWithBalances(query),
            format: "",
        }
    }

    /// The balance of `user` at `as_of`.
    pub fn balance(user: UserId, as_of: crate::Timestamp) -> Self {
        Self {
            user,
            entry: CacheEntry::Balance(as_of),
            format: "",
        }
    }

    /// The same read, cached in the encoding named `format`.
    pub fn in_format(self, format: &'static str) -> Self {
        Self { format, ..self }
    }

    /// The entry part of the key, unambiguous for every page, limit and range, and tagged
    /// with the framing version and the encoding of the cached value (so that instances
    /// writing another format never read each other's entries):
    /// `list2<format>:p<page>:l<limit>` (or `list2<format>:a<ms>.<id hex>:l<limit>`, `a-`
    /// from the start, for a page by position), then `:f<filter>` when a filter is set
    /// ([`ListFilter::render`](crate::ListFilter::render)); or
    /// `stats2<format>:<start ms|->:<end ms|->`; or `txn2<format>:<id>`; or
    /// `bal2<format>:<as_of ms>`. A page with running balances is keyed as a list page
    /// under `listb` instead of `list`.
    pub fn render(&self) -> String {
        let format = self.format;
        let bound = |b: Option<crate::Timestamp>| {
            b.map_or_else(|| "-".to_owned(), |t| t.as_millis().to_string())
        };
        match self.entry {
            CacheEntry::List(q) | CacheEntry::ListWithBalances(q) => {
                // Running balances change the page: their pages live under `listb`.
                let list = if matches!(self.entry, CacheEntry::List(_)) {
                    "list"
                } else {
                    "listb"
                };
                let window = match q.window {
                    Window::Page(p) => format!("p{}:l{}", p.page(), p.limit()),
                    Window::After { after, limit } => match after {
                        Some(a) => format!("a{}.{}:l{limit}", a.date.as_millis(), a.id),
                        None => format!("a-:l{limit}"),
                    },
                };
                // The unfiltered listing keeps the key it always had.
                if q.filter == crate::ListFilter::all() {
                    format!("{list}{CACHE_FORMAT}{format}:{window}")
                } else {
                    format!(
                        "{list}{CACHE_FORMAT}{format}:{window}:f{}",
                        q.filter.render()
                    )
                }
            }
            CacheEntry::Statistics(r) => format!(
                "stats{CACHE_FORMAT}{format}:{}:{}",
                bound(r.start()),
                bound(r.end())
            ),
            CacheEntry::Series(r, g) => format!(
                "series{CACHE_FORMAT}{format}:{g}:{}:{}",
                bound(r.start()),
                bound(r.end())
            ),
            CacheEntry::Transaction(id) => format!("txn{CACHE_FORMAT}{format}:{id}"),
            CacheEntry::Balance(at) => format!("bal{CACHE_FORMAT}{format}:{}", at.as_millis()),
        }
    }
}

/// A cache location resolved at lookup time: the rendered key including the user's
/// generation then. Only a [`Cache`](crate::Cache) adapter makes these.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CacheSlot(String);

impl CacheSlot {
    /// Wraps an adapter's full key (prefix, user, generation and entry).
    pub fn new(full_key: impl Into<String>) -> Self {
        Self(full_key.into())
    }

    /// The full key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The answer to a cache lookup.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CacheLookup {
    /// The cached value (opaque text written by the service).
    Hit(String),
    /// Nothing cached; a value read from the store now may be put into this slot.
    Miss(CacheSlot),
}

/// How long the service keeps each kind of entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CachePolicy {
    /// Time to live of list pages (default 300 s).
    pub list_ttl: Duration,
    /// Time to live of statistics (default 600 s).
    pub statistics_ttl: Duration,
    /// Time to live of a transaction read by id (default 300 s).
    pub transaction_ttl: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            list_ttl: Duration::from_secs(300),
            statistics_ttl: Duration::from_secs(600),
            transaction_ttl: Duration::from_secs(300),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_collide_across_page_and_limit() {
        let u = UserId::parse("65e25a6bfb249dcbfbf00b93").unwrap();
        let page = |p, l| ListQuery::page(crate::PageRequest::new(p, l).unwrap());
        let a = CacheKey::list(u, page(1, 11)).render();
        let b = CacheKey::list(u, page(11, 1)).render();
        assert_ne!(a, b);
        assert_eq!(a, "list2:p1:l11");
    }

    #[test]
    fn list_keys_include_every_filter_and_the_position() {
        use crate::{Amount, ListFilter, Position, Timestamp, TransactionId, TransactionType};
        let u = UserId::parse("65e25a6bfb249dcbfbf00b93").unwrap();
        let credit =
            ListFilter::new(Some(TransactionType::Credit), DateRange::ALL, None, None).unwrap();
        let min = ListFilter::new(
            None,
            DateRange::ALL,
            Some(Amount::from_cents(1).unwrap()),
            None,
        )
        .unwrap();
        let after = Position {
            date: Timestamp::from_millis(5).unwrap(),
            id: TransactionId::parse("65e25a6bfb249dcbfbf00b93").unwrap(),
        };
        let keys = [
            ListQuery {
                filter: ListFilter::all(),
                window: Window::After {
                    after: None,
                    limit: 10,
                },
            },
            ListQuery {
                filter: credit,
                window: Window::After {
                    after: None,
                    limit: 10,
                },
            },
            ListQuery {
                filter: min,
                window: Window::After {
                    after: None,
                    limit: 10,
                },
            },
            ListQuery {
                filter: min,
                window: Window::After {
                    after: Some(after),
                    limit: 10,
                },
            },
            ListQuery {
                filter: min,
                window: Window::Page(crate::PageRequest::new(1, 10).unwrap()),
            },
            ListQuery::page(crate::PageRequest::new(1, 10).unwrap()),
        ];
        let rendered: std::collections::HashSet<String> = keys
            .iter()
            .map(|q| CacheKey::list(u, *q).render())
            .collect();
        assert_eq!(rendered.len(), keys.len());
    }

    #[test]
    fn statistics_keys_include_the_range() {
        let u = UserId::parse("65e25a6bfb249dcbfbf00b93").unwrap();
        let start = DateRange::parse_start("2026-01-01").unwrap();
        let all = CacheKey::statistics(u, DateRange::ALL).render();
        let from = CacheKey::statistics(u, DateRange::new(Some(start), None).unwrap()).render();
        let to = CacheKey::statistics(u, DateRange::new(None, Some(start)).unwrap()).render();
        assert_eq!(all, "stats2:-:-");
        assert_eq!(
            CacheKey::statistics(u, DateRange::ALL)
                .in_format("json1")
                .render(),
            "stats2json1:-:-"
        );
        assert_ne!(from, to);
        assert_ne!(from, all);
    }
}
