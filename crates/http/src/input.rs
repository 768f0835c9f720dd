//! Parsing requests into domain values, at the edge, once.
//!
//! Bodies arrive as JSON objects and are checked field by field so that a caller learns
//! about every invalid field in one response. Values are never echoed back in messages
//! (they may be personal data).

use fido_domain::{
    Amount, DateRange, FullName, Granularity, ListFilter, NewTransaction, PageRequest,
    PageRequestError, Timestamp, TransactionId, TransactionPatch, TransactionType, UserId,
};
use serde_json::value::RawValue;

use crate::body::JsonObject;
use crate::error::{ApiError, FieldErrorBody};

/// Fields a create accepts.
const CREATE_FIELDS: &[&str] = &[
    "user_id",
    "full_name",
    "transaction_amount",
    "transaction_type",
    "transaction_date",
];
/// Fields an update accepts.
const PATCH_FIELDS: &[&str] = &["full_name", "transaction_amount", "transaction_type"];
/// Fields of the resource that exist but cannot be changed.
const IMMUTABLE_FIELDS: &[&str] = &[
    "id",
    "user_id",
    "transaction_date",
    "created_at",
    "updated_at",
];

/// Collects field errors while parsing.
#[derive(Default)]
struct Errors(Vec<FieldErrorBody>);

impl Errors {
    fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldErrorBody::new(field, message));
    }

    fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|m| self.push(field, m)).ok()
    }

    fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

fn string(raw: &RawValue) -> Result<String, String> {
    serde_json::from_str(raw.get()).map_err(|_| "must be a string".to_owned())
}

fn user_id(raw: &RawValue) -> Result<UserId, String> {
    UserId::parse(&string(raw)?).map_err(|e| e.to_string())
}

fn full_name(raw: &RawValue) -> Result<FullName, String> {
    FullName::parse(&string(raw)?).map_err(|e| e.to_string())
}

/// Amounts are validated on the number's text, exactly (see [`Amount::parse_number`]):
/// a body's JSON number, or a query parameter.
fn amount_text(text: &str) -> Result<Amount, String> {
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err("must be a number".into());
    }
    Amount::parse_number(text).map_err(|e| e.to_string())
}

fn amount(raw: &RawValue) -> Result<Amount, String> {
    amount_text(raw.get())
}

fn kind(raw: &RawValue) -> Result<TransactionType, String> {
    string(raw)?
        .parse()
        .map_err(|e: fido_domain::ValueError| e.to_string())
}

/// RFC 3339, or a date-time without offset read as UTC (what the original accepted).
fn date(raw: &RawValue) -> Result<Timestamp, String> {
    Timestamp::parse_datetime(&string(raw)?).map_err(|e| e.to_string())
}

/// Names outside `allowed` (immutable ones said so), and names given twice.
fn check_names(body: &JsonObject, allowed: &[&str], errors: &mut Errors) {
    for name in body.repeated() {
        errors.push(name, "must be given at most once");
    }
    for (key, _) in body.members() {
        if allowed.contains(&key) {
            continue;
        }
        if IMMUTABLE_FIELDS.contains(&key) {
            errors.push(key, "cannot be changed");
        } else {
            errors.push(key, "unknown field");
        }
    }
}

fn required<'a>(body: &'a JsonObject, field: &str, errors: &mut Errors) -> Option<&'a RawValue> {
    match body.get(field) {
        Some(v) if !is_null(v) => Some(v),
        _ => {
            errors.push(field, "is required");
            None
        }
    }
}

/// Parses a create body.
pub fn create(body: &JsonObject) -> Result<NewTransaction, ApiError> {
    let mut errors = Errors::default();
    check_names(body, CREATE_FIELDS, &mut errors);
    let user =
        required(body, "user_id", &mut errors).and_then(|v| errors.check("user_id", user_id(v)));
    let name = required(body, "full_name", &mut errors)
        .and_then(|v| errors.check("full_name", full_name(v)));
    let amount = required(body, "transaction_amount", &mut errors)
        .and_then(|v| errors.check("transaction_amount", amount(v)));
    let kind = required(body, "transaction_type", &mut errors)
        .and_then(|v| errors.check("transaction_type", kind(v)));
    let date = match body.get("transaction_date") {
        Some(v) if !is_null(v) => errors.check("transaction_date", date(v)),
        _ => None,
    };
    errors.finish()?;
    match (user, name, amount, kind) {
        (Some(user_id), Some(full_name), Some(amount), Some(kind)) => Ok(NewTransaction {
            user_id,
            full_name,
            amount,
            kind,
            transaction_date: date,
        }),
        // Every None above pushed an error, so finish() returned already.
        _ => Err(ApiError::Internal),
    }
}

/// Parses an update body.
pub fn patch(body: &JsonObject) -> Result<TransactionPatch, ApiError> {
    let mut errors = Errors::default();
    check_names(body, PATCH_FIELDS, &mut errors);
    // `null` means "no change", as in the original service (generated clients send it
    // for every field left unset); a body of nulls only is the empty patch.
    let present = |field: &str| body.get(field).filter(|v| !is_null(v));
    let name = present("full_name").and_then(|v| errors.check("full_name", full_name(v)));
    let amount =
        present("transaction_amount").and_then(|v| errors.check("transaction_amount", amount(v)));
    let kind = present("transaction_type").and_then(|v| errors.check("transaction_type", kind(v)));
    errors.finish()?;
    TransactionPatch::new(name, amount, kind).map_err(ApiError::from)
}

/// Parses a transaction id from the path.
pub fn transaction_id(raw: &str) -> Result<TransactionId, ApiError> {
    TransactionId::parse(raw).map_err(|e| ApiError::field("transaction_id", e.to_string()))
}

/// Parses a user id from the path.
pub fn path_user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|e| ApiError::field("user_id", e.to_string()))
}

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
}

/// `page` or `cursor` (not both), `limit`, and the filters: `transaction_type`,
/// `start_date`/`end_date` (as the statistics'), `min_amount`/`max_amount` (exact amounts,
/// inclusive).
pub fn listing(query: &Query) -> Result<Listing<'_>, ApiError> {
    let [page, limit, cursor, kind, start, end, min, max] = query_values(
        query,
        [
            "page", "limit", "cursor", FILTERS[0], FILTERS[1], FILTERS[2], FILTERS[3], FILTERS[4],
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
    errors.finish()?;
    match (filter, page) {
        (Some(filter), Some(page)) => Ok(Listing {
            filter,
            page,
            cursor,
        }),
        _ => Err(ApiError::Internal),
    }
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
/// CSV) and the listing's filters.
pub fn export(query: &Query, accept: Option<&str>) -> Result<(ExportFormat, ListFilter), ApiError> {
    let [format, kind, start, end, min, max] = query_values(
        query,
        [
            "format", FILTERS[0], FILTERS[1], FILTERS[2], FILTERS[3], FILTERS[4],
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
    errors.finish()?;
    match (format, filter) {
        (Some(format), Some(filter)) => Ok((format, filter)),
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

/// What an `If-Match` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// Absent or `*`: no condition.
    Any,
    /// One strong ETag of ours: that version.
    Version(u64),
    /// Several: any of these versions.
    AnyOf(Vec<u64>),
    /// Only ETags that can never be ours (weak, or not a version number): always 412.
    Never,
}

/// `If-Match`: absent or `*` → no condition; strong ETags `"<version>"`, one or a
/// comma-separated list (RFC 9110) → those versions. A well-formed ETag that cannot be
/// one of ours (weak, or not a number) never matches; if no listed ETag can, the
/// precondition fails (412). A malformed value is a 422; the header given twice, a 400.
pub fn if_match(req: &actix_web::HttpRequest) -> Result<IfMatch, ApiError> {
    let malformed = || {
        ApiError::field(
            "If-Match",
            "must be * or ETags such as \"3\", separated by commas",
        )
    };
    let text = match single_header(req, actix_web::http::header::IF_MATCH.as_str())? {
        None => return Ok(IfMatch::Any),
        Some(text) => text.trim(),
    };
    if text == "*" {
        return Ok(IfMatch::Any);
    }
    let mut versions = Vec::new();
    for tag in text.split(',').map(str::trim) {
        let (weak, tag) = match tag.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        let opaque = tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .filter(|t| t.bytes().all(|b| b == b'!' || (b'#'..=b'~').contains(&b)))
            .ok_or_else(malformed)?;
        let ours =
            !weak && (1..=20).contains(&opaque.len()) && opaque.bytes().all(|b| b.is_ascii_digit());
        if let Some(version) = ours.then(|| opaque.parse::<u64>().ok()).flatten() {
            versions.push(version);
        }
    }
    Ok(match versions.as_slice() {
        [] => IfMatch::Never,
        [one] => IfMatch::Version(*one),
        _ => IfMatch::AnyOf(versions),
    })
}

/// The value of a header that may appear at most once: `None` when absent, 400 when it
/// appears twice (two credentials or keys make a request ambiguous), 422 when it is not
/// visible ASCII.
pub fn single_header<'a>(
    req: &'a actix_web::HttpRequest,
    name: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    let mut values = req.headers().get_all(name);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::BadRequest(match name {
            "authorization" => "Send the Authorization header once",
            "idempotency-key" => "Send the Idempotency-Key header once",
            "if-match" => "Send If-Match once; list several ETags in one header",
            _ => "A header that may appear once appeared twice",
        }));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| ApiError::field(header_field(name), "must be printable ASCII characters"))
}

/// A header's name as the API's messages spell it.
fn header_field(name: &str) -> &'static str {
    match name {
        "idempotency-key" => "Idempotency-Key",
        "if-match" => "If-Match",
        _ => "header",
    }
}

/// The strong ETag of a version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// The optional `Idempotency-Key` header: 1 to 255 printable ASCII characters, once.
pub fn idempotency_key(
    req: &actix_web::HttpRequest,
) -> Result<Option<fido_domain::IdempotencyKey>, ApiError> {
    let Some(text) = single_header(req, "idempotency-key")? else {
        return Ok(None);
    };
    fido_domain::IdempotencyKey::parse(text)
        .map(Some)
        .map_err(|e| ApiError::field("Idempotency-Key", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: serde_json::Value) -> JsonObject {
        JsonObject::parse(v.to_string().as_bytes()).unwrap()
    }

    fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Validation(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("expected validation, got {other:?}"),
        }
    }

    #[test]
    fn create_reports_every_bad_field_at_once() {
        let e = create(&obj(json!({"user_id": "x", "full_name": "", "transaction_amount": 1.001,
                              "transaction_type": "refund", "transaction_date": "soon", "extra": 1})))
            .unwrap_err();
        let mut f = fields(e);
        f.sort();
        assert_eq!(
            f,
            [
                "extra",
                "full_name",
                "transaction_amount",
                "transaction_date",
                "transaction_type",
                "user_id"
            ]
        );
    }

    #[test]
    fn create_requires_the_four_fields() {
        let mut f = fields(create(&obj(json!({}))).unwrap_err());
        f.sort();
        assert_eq!(
            f,
            [
                "full_name",
                "transaction_amount",
                "transaction_type",
                "user_id"
            ]
        );
        assert_eq!(
            fields(
                create(&obj(
                    json!({"user_id": "65e25a6bfb249dcbfbf00b93", "full_name": "A",
            "transaction_amount": "10", "transaction_type": "credit"})
                ))
                .unwrap_err()
            ),
            ["transaction_amount"]
        );
    }

    #[test]
    fn repeated_members_and_inexact_amounts_are_refused() {
        let body =
            JsonObject::parse(br#"{"transaction_amount": 1, "transaction_amount": 2}"#).unwrap();
        assert_eq!(fields(patch(&body).unwrap_err()), ["transaction_amount"]);
        for amount in [
            "1000000000000.0000001",
            "10.5000000000000001",
            "1e-400",
            "1E400",
            "-1",
        ] {
            let body = format!(r#"{{"transaction_amount": {amount}}}"#);
            let body = JsonObject::parse(body.as_bytes()).unwrap();
            assert_eq!(
                fields(patch(&body).unwrap_err()),
                ["transaction_amount"],
                "{amount}"
            );
        }
    }

    #[test]
    fn patch_rejects_immutable_and_empty_and_reads_null_as_no_change() {
        assert_eq!(
            fields(patch(&obj(json!({"user_id": "65e25a6bfb249dcbfbf00b93"}))).unwrap_err()),
            ["user_id"]
        );
        assert_eq!(fields(patch(&obj(json!({}))).unwrap_err()), ["body"]);
        assert_eq!(
            fields(patch(&obj(json!({"full_name": null}))).unwrap_err()),
            ["body"],
            "nulls only: the empty patch"
        );
        let p = patch(&obj(
            json!({"full_name": null, "transaction_type": "debit"}),
        ))
        .unwrap();
        assert_eq!(p.full_name(), None, "null is no change");
        assert!(patch(&obj(json!({"transaction_type": "debit"}))).is_ok());
    }

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
