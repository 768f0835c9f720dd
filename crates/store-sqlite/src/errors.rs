//! SQLite's errors mapped onto the ports' contract.

use fido_domain::StoreError;

/// Maps SQLite's errors onto the port's contract: a locked, full, unreadable or missing
/// database is `Unavailable` (transient, 503); everything else is `Internal`.
pub(crate) fn map_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            C::DatabaseBusy
            | C::DatabaseLocked
            | C::CannotOpen
            | C::SystemIoFailure
            | C::DiskFull
            | C::ReadOnly
            | C::OutOfMemory => StoreError::Unavailable(e.to_string()),
            C::ConstraintViolation
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::Duplicate
            }
            _ => StoreError::Internal(e.to_string()),
        },
        _ => StoreError::Internal(e.to_string()),
    }
}

pub(crate) fn conversion(column: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Integer,
        format!("invalid {what} in the database").into(),
    )
}
