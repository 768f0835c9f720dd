//! Parsing requests into domain values, at the edge, once.
//!
//! Bodies arrive as JSON objects and are checked field by field so that a caller learns
//! about every invalid field in one response. Values are never echoed back in messages
//! (they may be personal data).

use fido_domain::{
    Amount, DateRange, FullName, NewTransaction, PageRequest, PageRequestError, Timestamp,
    TransactionId, TransactionPatch, TransactionType, UserId,
};
use serde::Deserialize;
use serde_json::{Map, Value};

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

fn as_object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::field("body", "must be a JSON object")),
    }
}

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

fn string(value: &Value) -> Result<&str, String> {
    value.as_str().ok_or_else(|| "must be a string".to_owned())
}

fn user_id(value: &Value) -> Result<UserId, String> {
    UserId::parse(string(value)?).map_err(|e| e.to_string())
}

fn full_name(value: &Value) -> Result<FullName, String> {
    FullName::parse(string(value)?).map_err(|e| e.to_string())
}

fn amount(value: &Value) -> Result<Amount, String> {
    if !value.is_number() {
        return Err("must be a number".into());
    }
    Amount::deserialize(value).map_err(|e| e.to_string())
}

fn kind(value: &Value) -> Result<TransactionType, String> {
    string(value)?
        .parse()
        .map_err(|e: fido_domain::ValueError| e.to_string())
}

fn date(value: &Value) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(string(value)?).map_err(|e| e.to_string())
}

fn reject_unknown(map: &Map<String, Value>, allowed: &[&str], errors: &mut Errors) {
    for key in map.keys() {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        if IMMUTABLE_FIELDS.contains(&key.as_str()) {
            errors.push(key, "cannot be changed");
        } else {
            errors.push(key, "unknown field");
        }
    }
}

fn required<'a>(
    map: &'a Map<String, Value>,
    field: &str,
    errors: &mut Errors,
) -> Option<&'a Value> {
    match map.get(field) {
        None | Some(Value::Null) => {
            errors.push(field, "is required");
            None
        }
        Some(v) => Some(v),
    }
}

/// Parses a create body.
pub fn create(body: Value) -> Result<NewTransaction, ApiError> {
    let map = as_object(body)?;
    let mut errors = Errors::default();
    reject_unknown(&map, CREATE_FIELDS, &mut errors);
    let user =
        required(&map, "user_id", &mut errors).and_then(|v| errors.check("user_id", user_id(v)));
    let name = required(&map, "full_name", &mut errors)
        .and_then(|v| errors.check("full_name", full_name(v)));
    let amount = required(&map, "transaction_amount", &mut errors)
        .and_then(|v| errors.check("transaction_amount", amount(v)));
    let kind = required(&map, "transaction_type", &mut errors)
        .and_then(|v| errors.check("transaction_type", kind(v)));
    let date = match map.get("transaction_date") {
        None | Some(Value::Null) => None,
        Some(v) => errors.check("transaction_date", date(v)),
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
pub fn patch(body: Value) -> Result<TransactionPatch, ApiError> {
    let map = as_object(body)?;
    let mut errors = Errors::default();
    reject_unknown(&map, PATCH_FIELDS, &mut errors);
    let present = |field: &str, errors: &mut Errors| match map.get(field) {
        None => None,
        Some(Value::Null) => {
            errors.push(field, "must not be null");
            None
        }
        Some(v) => Some(v),
    };
    let name =
        present("full_name", &mut errors).and_then(|v| errors.check("full_name", full_name(v)));
    let amount = present("transaction_amount", &mut errors)
        .and_then(|v| errors.check("transaction_amount", amount(v)));
    let kind = present("transaction_type", &mut errors)
        .and_then(|v| errors.check("transaction_type", kind(v)));
    errors.finish()?;
    TransactionPatch::new(name, amount, kind).map_err(ApiError::from)
}

/// Parses a transaction id from the path.
pub fn transaction_id(raw: &str) -> Result<TransactionId, ApiError> {
    TransactionId::parse(raw).map_err(|e| ApiError::field("id", e.to_string()))
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

/// `page` (>= 1, default 1) and `limit` (1..=100, default 10).
pub fn page(query: &Query) -> Result<PageRequest, ApiError> {
    let [page, limit] = query_values(query, ["page", "limit"])?;
    let mut errors = Errors::default();
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
    errors.finish()?;
    let (Some(page), Some(limit)) = (page, limit) else {
        return Err(ApiError::Internal);
    };
    PageRequest::new(page, limit).map_err(|e| {
        let field = match e {
            PageRequestError::Page => "page",
            PageRequestError::Limit => "limit",
        };
        ApiError::field(field, e.to_string())
    })
}

/// `start_date` and `end_date`: RFC 3339 or `YYYY-MM-DD`, inclusive, start <= end.
pub fn date_range(query: &Query) -> Result<DateRange, ApiError> {
    let [start, end] = query_values(query, ["start_date", "end_date"])?;
    let mut errors = Errors::default();
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
    errors.finish()?;
    DateRange::new(start, end)
        .map_err(|_| ApiError::field("start_date", "start_date must not be after end_date"))
}

/// `If-Match`: absent or `*` → no condition; one strong ETag `"<version>"` → that version.
/// A well-formed ETag that cannot be one of ours (weak, or not a number) can never match,
/// so it fails the precondition (412). A malformed value, or several ETags, is a 422.
pub fn if_match(req: &actix_web::HttpRequest) -> Result<Option<u64>, ApiError> {
    let malformed = || ApiError::field("If-Match", "must be * or a single ETag such as \"3\"");
    let mut values = req.headers().get_all(actix_web::http::header::IF_MATCH);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(malformed());
    }
    let text = first.to_str().map_err(|_| malformed())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let (weak, tag) = match text.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let opaque = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|t| t.bytes().all(|b| b == b'!' || (b'#'..=b'~').contains(&b)))
        .ok_or_else(malformed)?;
    if weak || opaque.is_empty() || opaque.len() > 20 || !opaque.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ApiError::PreconditionFailed);
    }
    opaque
        .parse()
        .map(Some)
        .map_err(|_| ApiError::PreconditionFailed)
}

/// The strong ETag of a version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// The optional `Idempotency-Key` header: 1 to 255 printable ASCII characters.
pub fn idempotency_key(
    req: &actix_web::HttpRequest,
) -> Result<Option<fido_domain::IdempotencyKey>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::field("Idempotency-Key", "must be printable ASCII characters"))?;
    fido_domain::IdempotencyKey::parse(text)
        .map(Some)
        .map_err(|e| ApiError::field("Idempotency-Key", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Validation(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("expected validation, got {other:?}"),
        }
    }

    #[test]
    fn create_reports_every_bad_field_at_once() {
        let e = create(json!({"user_id": "x", "full_name": "", "transaction_amount": 1.001,
                              "transaction_type": "refund", "transaction_date": "soon", "extra": 1}))
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
        let mut f = fields(create(json!({})).unwrap_err());
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
        assert_eq!(fields(create(json!([1])).unwrap_err()), ["body"]);
        assert_eq!(
            fields(
                create(
                    json!({"user_id": "65e25a6bfb249dcbfbf00b93", "full_name": "A",
            "transaction_amount": "10", "transaction_type": "credit"})
                )
                .unwrap_err()
            ),
            ["transaction_amount"]
        );
    }

    #[test]
    fn patch_rejects_immutable_empty_and_null() {
        assert_eq!(
            fields(patch(json!({"user_id": "65e25a6bfb249dcbfbf00b93"})).unwrap_err()),
            ["user_id"]
        );
        assert_eq!(fields(patch(json!({})).unwrap_err()), ["body"]);
        assert_eq!(
            fields(patch(json!({"full_name": null})).unwrap_err()),
            ["full_name"]
        );
        assert!(patch(json!({"transaction_type": "debit"})).is_ok());
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
