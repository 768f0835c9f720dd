//! Errors of the domain: the one enum services return, and the small types value parsers
//! use to say what is wrong with an input.

use std::fmt;

/// Why a single value was rejected, without saying which field it came from.
///
/// Value-type parsers return this; the edge that knows the field's name wraps it in a
/// [`FieldError`]. The message is written for the API's caller and never echoes the
/// rejected value (it may be personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError(pub String);

impl ValueError {
    /// Builds a value error from a human-readable reason.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// Attaches the field the value came from.
    pub fn at(self, field: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: self.0,
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

/// One rejected input field: the field's name as the API spells it, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    /// The field's name as the caller sent it, e.g. `transaction_amount`.
    pub field: String,
    /// Why the value was rejected, for a human.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The one error every service operation returns.
///
/// Variants map one-to-one onto the API's failure classes: 404, 422, 503 and 500. The
/// `Internal` text is for logs only; the HTTP layer shows callers a generic message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DomainError {
    /// The transaction (or, for statistics, any transaction in the range) does not exist.
    #[error("{0}")]
    NotFound(&'static str),
    /// The request is well formed but some values are invalid; nothing was stored.
    #[error("invalid input: {}", display_fields(.0))]
    Validation(Vec<FieldError>),
    /// Another request with the same idempotency key is still being processed.
    #[error("a request with this idempotency key is still being processed")]
    IdempotencyInFlight,
    /// A conditional write found the record at another version; nothing changed.
    #[error("the transaction has changed since it was read")]
    VersionMismatch,
    /// The store cannot be reached right now; the caller may retry.
    #[error("the store is unavailable: {0}")]
    StoreUnavailable(String),
    /// Anything else: a broken invariant, a corrupt record, a key that cannot decrypt.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// A validation error on a single field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}

fn display_fields(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_error_attaches_its_field() {
        let e = ValueError::new("must be positive").at("transaction_amount");
        assert_eq!(e.field, "transaction_amount");
        assert_eq!(e.to_string(), "transaction_amount: must be positive");
    }

    #[test]
    fn validation_error_lists_every_field() {
        let e = DomainError::Validation(vec![
            FieldError::new("a", "bad"),
            FieldError::new("b", "worse"),
        ]);
        assert_eq!(e.to_string(), "invalid input: a: bad; b: worse");
    }
}
