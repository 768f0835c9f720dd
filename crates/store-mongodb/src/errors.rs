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
