//! Parsing requests into domain values, at the edge, once: bodies, query strings and
//! headers each in their own module, path segments here.
//!
//! Bodies arrive as JSON objects and are checked field by field so that a caller learns
//! about every invalid field in one response. Values are never echoed back in messages
//! (they may be personal data).

mod bodies;
mod headers;
mod queries;

use fido_domain::{Amount, TransactionId, UserId};

use crate::error::{ApiError, FieldErrorBody};

pub use bodies::{create, patch};
pub use headers::{idempotency_key, if_match, single_header, IfMatch};
pub use queries::{
    balance_at, date_range, export, feed, listing, series, ExportFormat, ExportQuery, Listing,
    Query,
};

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

/// Amounts are validated on the number's text, exactly (see [`Amount::parse_number`]):
/// a body's JSON number, or a query parameter.
fn amount_text(text: &str) -> Result<Amount, String> {
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err("must be a number".into());
    }
    Amount::parse_number(text).map_err(|e| e.to_string())
}

/// Parses a transaction id from the path.
pub fn transaction_id(raw: &str) -> Result<TransactionId, ApiError> {
    TransactionId::parse(raw).map_err(|e| ApiError::field("transaction_id", e.to_string()))
}

/// Parses a user id from the path.
pub fn path_user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|e| ApiError::field("user_id", e.to_string()))
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::error::ApiError;

    /// The fields a validation error names.
    pub(crate) fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Validation(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("expected validation, got {other:?}"),
        }
    }
}
