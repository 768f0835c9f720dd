//! Request bodies: a create and an update, each field checked and every bad one named.

use fido_domain::{
    Amount, FullName, NewTransaction, Timestamp, TransactionPatch, TransactionType, UserId,
};
use serde_json::value::RawValue;

use super::{amount_text, Errors};
use crate::body::JsonObject;
use crate::error::ApiError;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::test_support::fields;
    use serde_json::json;

    fn obj(v: serde_json::Value) -> JsonObject {
        JsonObject::parse(v.to_string().as_bytes()).unwrap()
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
}
