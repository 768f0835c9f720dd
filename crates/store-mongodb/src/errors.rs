//! Maps the driver's errors onto the port's contract.

use fido_domain::StoreError;
use mongodb::error::{Error, ErrorKind, WriteFailure};

/// MongoDB's duplicate-key error code.
const DUPLICATE_KEY: i32 = 11000;

/// Server error labels that mean "try again later", not "your request is wrong".
const TRANSIENT_LABELS: &[&str] = &[
    "RetryableWriteError",
    "TransientTransactionError",
    "SystemOverloadedError",
];

pub(crate) fn map_error(e: Error) -> StoreError {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY => {
            StoreError::Duplicate
        }
        ErrorKind::Command(c) if c.code == DUPLICATE_KEY => StoreError::Duplicate,
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Authentication { .. }
        | ErrorKind::Shutdown => {
            StoreError::Unavailable(format!("MongoDB unreachable ({})", kind_name(&e)))
        }
        _ if TRANSIENT_LABELS.iter().any(|l| e.contains_label(l)) => StoreError::Unavailable(
            format!("MongoDB temporarily unavailable ({})", kind_name(&e)),
        ),
        _ => StoreError::Internal(format!("MongoDB error: {e}")),
    }
}

/// The positions of an unordered batch's documents refused only because their `_id` was
/// taken; `None` when anything else failed (another write error, the write concern).
pub(crate) fn duplicates_only(e: &Error) -> Option<Vec<usize>> {
    let ErrorKind::InsertMany(failure) = e.kind.as_ref() else {
        return None;
    };
    if failure.write_concern_error.is_some() {
        return None;
    }
    let errors = failure.write_errors.as_ref()?;
    errors
        .iter()
        .map(|w| (w.code == DUPLICATE_KEY).then_some(w.index))
        .collect()
}

/// A short name of the error's kind, safe to show (no URI, no values).
pub(crate) fn kind_name(e: &Error) -> &'static str {
    match e.kind.as_ref() {
        ErrorKind::InvalidArgument { .. } => "invalid argument",
        ErrorKind::Authentication { .. } => "authentication failed",
        ErrorKind::DnsResolve { .. } => "DNS resolution failed",
        ErrorKind::ServerSelection { .. } => "no server available",
        ErrorKind::Io(_) => "I/O error",
        ErrorKind::ConnectionPoolCleared { .. } => "connection pool cleared",
        ErrorKind::InvalidTlsConfig { .. } => "invalid TLS configuration",
        ErrorKind::Shutdown => "client shut down",
        ErrorKind::Command(_) => "command failed",
        ErrorKind::Write(_) => "write failed",
        _ => "driver error",
    }
}
