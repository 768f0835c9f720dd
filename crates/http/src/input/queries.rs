//! Query strings: listings, exports, the event feed, statistics and series. Only the
//! names a route knows are accepted, each at most once.

use fido_domain::{
    DateRange, Granularity, ListFilter, PageRequest, PageRequestError, Timestamp, TransactionType,
};

use super::{amount_text, Errors};
use crate::error::ApiError;

/// Query pairs as they arrived.
pub type Query = Vec<(String, String)>;

/// Checks that only `allowed` names appear, each at most once.
fn query_values<'a, const N: usize>(
    query: &'a Query,
    allowed: [&str; N],
) -> Result<[Option<&'a str>; N], ApiError> {
    let mut values = [None; N];
    let mut errors = Errors::default();
    for (name, value) in query {
        match allowed.iter().position(|a| a == name) {
            Some(i) if values[i].is_none() => values[i] = Some(value.as_str()),
            Some(_) => errors.push(name, "must be given at most once"),
            None => errors.push(name, "unknown query parameter"),
        }
    }
    errors.finish()?;
    Ok(values)
}

/// `page` (>= 1, default 1) and `limit` (1..=100, default 10), each bad one named in
/// `errors`.
fn paging(page: Option<&str>, limit: Option<&str>, errors: &mut Errors) -> Option<PageRequest> {
    let number = |raw: Option<&str>, default: u64| match raw {
        None => Ok(default),
        Some(s) if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(s.parse::<u64>().unwrap_or(u64::MAX))
        }
        Some(_) => Err(()),
    };
    let page = number(page, 1)
        .map_err(|()| errors.push("page", "must be an integer >= 1"))
        .ok();
    let limit = number(limit, u64::from(PageRequest::DEFAULT_LIMIT))
        .map_err(|()| errors.push("limit", "must be an integer between 1 and 100"))
        .ok();
    PageRequest::new(page?, limit?)
        .map_err(|e| {
            let field = match e {
                PageRequestError::Page => "page",
                PageRequestError::Limit => "limit",
            };
            errors.push(field, e.to_string());
        })
        .ok()
}

/// The filters' parameter names, in the order [`filter`] takes their values.
const FILTERS: [&str; 5] = [
    "transaction_type",
    "start_date",
    "end_date",
    "min_amount",
    "max_amount",
];

/// The filters of a listing or an export, parsed together so that every bad one is named;
/// `None` when one is bad.
fn filter(
    [kind, start, end, min, max]: [Option<&str>; 5],
    errors: &mut Errors,
) -> Option<ListFilter> {
    let before = errors.0.len();
    let kind = kind.and_then(|k| {
        errors.check(
            "transaction_type",
            k.parse::<TransactionType>().map_err(|e| e.to_string()),
        )
    });
    let dates = dates(start, end, errors);
    let min = min.and_then(|m| errors.check("min_amount", amount_text(m)));
    let max = max.and_then(|m| errors.check("max_amount", amount_text(m)));
    if errors.0.len() > before {
        return None;
    }
    ListFilter::new(kind, dates?, min, max)
        .map_err(|e| errors.push("min_amount", e.to_string()))
        .ok()
}

/// What a listing asks for: filters, then a numbered page or a cursor.
#[derive(Debug)]
pub struct Listing<'a> {
    /// The filters.
    pub filter: ListFilter,
    /// `page` and `limit` (page 1 when neither `page` nor `cursor` is given).
    pub page: PageRequest,
    /// The `cursor`, still sealed, when given (then `page` was not).
    pub cursor: Option<&'a str>,
    /// `running_balance=true`: each item with the balance after it.
    pub running_balance: bool,
}

/// `page` or `cursor` (not both), `limit`, and the filters: `transaction_type`,
/// `start_date`/`end_date` (as the statistics'), `min_amount`/`max_amount` (exact amounts,
/// inclusive).
pub fn listing(query: &Query) -> Result<Listing<'_>, ApiError> {
    let [page, limit, cursor, running, kind, start, end, min, max] = query_values(
        query,
        [
            "page",
            "limit",
            "cursor",
            "running_balance",
            FILTERS[0],
            FILTERS[1],
            FILTERS[2],
            FILTERS[3],
            FILTERS[4],
        ],
    )?;
    let mut errors = Errors::default();
    if page.is_some() && cursor.is_some() {
        errors.push(
            "cursor",
            "cannot be combined with page (use one or the other)",
        );
    }
    if cursor.is_some_and(str::is_empty) {
        errors.push("cursor", "must not be empty");
    }
    let filter = filter([kind, start, end, min, max], &mut errors);
    let page = paging(page, limit, &mut errors);
    let running_balance = flag("running_balance", running, &mut errors);
    errors.finish()?;
    match (filter, page) {
        (Some(filter), Some(page)) => Ok(Listing {
            filter,
            page,
            cursor,
            running_balance,
        }),
        _ => Err(ApiError::Internal),
    }
}

/// A boolean parameter: `true` or `false` (absent: `false`), a bad one named in `errors`.
fn flag(name: &str, value: Option<&str>, errors: &mut Errors) -> bool {
    match value {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            errors.push(name, "must be true or false");
            false
        }
    }
}

/// An export's query: its format, filters and whether rows carry running balances.
#[derive(Debug)]
pub struct ExportQuery {
    /// CSV or NDJSON.
    pub format: ExportFormat,
    /// The listing's filters.
    pub filter: ListFilter,
    /// `running_balance=true`: each row with the balance after it.
    pub running_balance: bool,
}

/// An export's format.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExportFormat {
    /// `text/csv` (RFC 4180, a header row).
    Csv,
    /// `application/x-ndjson`: one JSON object per line.
    Ndjson,
}

/// An export's query: `format` (`csv` or `ndjson`; else the `Accept` header's choice; else
/// CSV), the listing's filters and `running_balance`.
pub fn export(query: &Query, accept: Option<&str>) -> Result<ExportQuery, ApiError> {
    let [format, running, kind, start, end, min, max] = query_values(
        query,
        [
            "format",
            "running_balance",
            FILTERS[0],
            FILTERS[1],
            FILTERS[2],
            FILTERS[3],
            FILTERS[4],
        ],
    )?;
    let mut errors = Errors::default();
    let format = match format {
        Some("csv") => Some(ExportFormat::Csv),
        Some("ndjson") => Some(ExportFormat::Ndjson),
        Some(_) => {
            errors.push("format", "must be csv or ndjson");
            None
        }
        None => Some(match accept {
            Some(a) if a.contains("ndjson") && !a.contains("text/csv") => ExportFormat::Ndjson,
            _ => ExportFormat::Csv,
        }),
    };
    let filter = filter([kind, start, end, min, max], &mut errors);
    let running_balance = flag("running_balance", running, &mut errors);
    errors.finish()?;
    match (format, filter) {
        (Some(format), Some(filter)) => Ok(ExportQuery {
            format,
            filter,
            running_balance,
        }),
        _ => Err(ApiError::Internal),
    }
}

/// The feed's `after` (a sequence, default 0) and `limit` (1 to `max`, default 100).
pub fn feed(query: &Query, max: u32) -> Result<(u64, u32), ApiError> {
    let [after, limit] = query_values(query, ["after", "limit"])?;
    let mut errors = Errors::default();
    let digits = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
    let after = match after {
        None => Ok(0),
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse::<u64>()
            .ok()
            .filter(|a| i64::try_from(*a).is_ok())
            .ok_or("must be at most 9223372036854775807 (sequences are 63-bit)"),
        Some(_) => Err("must be an integer >= 0 (a sequence number)"),
    };
    let after = after.map_err(|rule| errors.push("after", rule)).ok();
    let limit = match limit {
        None => Some(100),
        Some(s) if digits(s) => s.parse::<u32>().ok().filter(|l| (1..=max).contains(l)),
        Some(_) => None,
    };
    if limit.is_none() {
        errors.push("limit", format!("must be an integer between 1 and {max}"));
    }
    errors.finish()?;
    match (after, limit) {
        (Some(after), Some(limit)) => Ok((after, limit)),
        _ => Err(ApiError::Internal),
    }
}

/// A balance's `at`: the statistics' end rules (RFC 3339; a date-time without offset, read
/// as UTC; or `YYYY-MM-DD` meaning the end of that UTC day); `None` when not given.
pub fn balance_at(query: &Query) -> Result<Option<Timestamp>, ApiError> {
    let [at] = query_values(query, ["at"])?;
    at.map(|s| DateRange::parse_end(s).map_err(|e| ApiError::field("at", e.to_string())))
        .transpose()
}

/// `start_date` and `end_date`: RFC 3339 or `YYYY-MM-DD`, inclusive, start <= end.
pub fn date_range(query: &Query) -> Result<DateRange, ApiError> {
    let [start, end] = query_values(query, ["start_date", "end_date"])?;
    range_of(start, end)
}

/// A series' query: the statistics' bounds, and `granularity` (`day` by default).
pub fn series(query: &Query) -> Result<(DateRange, Granularity), ApiError> {
    let [start, end, granularity] = query_values(query, ["start_date", "end_date", "granularity"])?;
    let granularity = match granularity {
        None => Granularity::Day,
        Some(g) => {
            Granularity::parse(g).map_err(|e| ApiError::field("granularity", e.to_string()))?
        }
    };
    Ok((range_of(start, end)?, granularity))
}

fn range_of(start: Option<&str>, end: Option<&str>) -> Result<DateRange, ApiError> {
    let mut errors = Errors::default();
    let range = dates(start, end, &mut errors);
    errors.finish()?;
    range.ok_or(ApiError::Internal)
}

/// `start_date` and `end_date` (RFC 3339 or `YYYY-MM-DD`, inclusive, start <= end), each
/// bad one named in `errors`.
fn dates(start: Option<&str>, end: Option<&str>, errors: &mut Errors) -> Option<DateRange> {
    let before = errors.0.len();
    let start = start.and_then(|s| {
        errors.check(
            "start_date",
            DateRange::parse_start(s).map_err(|e| e.to_string()),
        )
    });
    let end = end.and_then(|s| {
        errors.check(
            "end_date",
            DateRange::parse_end(s).map_err(|e| e.to_string()),
        )
    });
    if errors.0.len() > before {
        return None;
    }
    DateRange::new(start, end)
        .map_err(|_| errors.push("start_date", "start_date must not be after end_date"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::test_support::fields;

    /// A listing's page and limit (what `page` and `limit` parse into).
    fn page(query: &Query) -> Result<PageRequest, ApiError> {
        listing(query).map(|l| l.page)
    }

    #[test]
    fn pages_and_ranges() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect::<Query>()
        };
        assert_eq!(page(&q(&[])).unwrap(), PageRequest::default());
        assert_eq!(fields(page(&q(&[("page", "0")])).unwrap_err()), ["page"]);
        assert_eq!(
            fields(page(&q(&[("limit", "101")])).unwrap_err()),
            ["limit"]
        );
        assert_eq!(fields(page(&q(&[("limit", "-1")])).unwrap_err()), ["limit"]);
        assert_eq!(
            fields(page(&q(&[("page", "99999999999999999999999")])).unwrap_err()),
            ["page"]
        );
        assert_eq!(
            fields(page(&q(&[("page", "1"), ("page", "2")])).unwrap_err()),
            ["page"]
        );
        assert_eq!(fields(page(&q(&[("pgae", "1")])).unwrap_err()), ["pgae"]);
        assert!(date_range(&q(&[("start_date", "2026-01-01")])).is_ok());
        assert_eq!(
            fields(
                date_range(&q(&[
                    ("start_date", "2026-02-01"),
                    ("end_date", "2026-01-01")
                ]))
                .unwrap_err()
            ),
            ["start_date"]
        );
        assert_eq!(
            fields(date_range(&q(&[("end_date", "nope")])).unwrap_err()),
            ["end_date"]
        );
    }
}
