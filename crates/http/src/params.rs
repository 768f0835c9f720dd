//! Parameters that several operations share, declared once for the OpenAPI document.
//!
//! Path parameters are extracted as these types (so the document takes them from the
//! handler's arguments); their values are still checked by `input`. Query and header
//! types only describe: handlers read the raw query themselves, so that every bad
//! parameter is named in one answer and unknown ones are refused.

use serde::Deserialize;
use utoipa::IntoParams;

use crate::dto::TransactionTypeBody;

/// `{transaction_id}` in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TransactionIdPath {
    /// Transaction id (24 hex characters)
    #[param(pattern = "^[0-9a-fA-F]{24}$", example = "6650f0c2e4b0a1b2c3d4e5f6")]
    pub transaction_id: String,
}

/// `{user_id}` in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserIdPath {
    /// User id (24 hex characters)
    #[param(pattern = "^[0-9a-fA-F]{24}$")]
    pub user_id: String,
}

/// `If-Match` on an update or a delete.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatchHeader {
    /// Change only if the transaction is still at one of these ETags (412 otherwise): `*`, one ETag, or a comma-separated list; absent: no condition. A weak ETag never matches.
    #[param(
        rename = "If-Match",
        nullable = false,
        pattern = "^(\\*|(W/)?\"[!#-~]*\"([ \\t]*,[ \\t]*(W/)?\"[!#-~]*\")*)$"
    )]
    pub if_match: Option<String>,
}

/// The bounds of statistics and series: `start_date` and `end_date`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DateRangeQuery {
    /// Inclusive start: RFC 3339; a date-time without offset, read as UTC; or YYYY-MM-DD meaning 00:00:00.000Z of that day
    #[param(nullable = false, format = DateTime, example = "2026-11-01")]
    pub start_date: Option<String>,
    /// Inclusive end: RFC 3339; a date-time without offset, read as UTC; or YYYY-MM-DD meaning 23:59:59.999Z of that day
    #[param(nullable = false, format = DateTime, example = "2026-11-30")]
    pub end_date: Option<String>,
}

/// The filters of a listing and of an export (descriptions on one line each: a line break
/// in a doc comment would reach the document). Their examples are in the descriptions, not
/// `example`: Swagger UI pre-fills examples into "Try it out", which would send filters
/// the caller never chose.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFilterQuery {
    /// Only credits or only debits. Example: `debit`
    #[param(nullable = false)]
    pub transaction_type: Option<TransactionTypeBody>,
    /// Only from this instant on (inclusive): RFC 3339, or YYYY-MM-DD for 00:00:00.000Z. Example: `2026-01-01`
    #[param(nullable = false)]
    pub start_date: Option<String>,
    /// Only up to this instant (inclusive): RFC 3339, or YYYY-MM-DD for 23:59:59.999Z. Example: `2026-03-31`
    #[param(nullable = false)]
    pub end_date: Option<String>,
    /// Only amounts at least this (inclusive; exact, at most 2 decimals). Example: `10`
    #[param(nullable = false, minimum = 0)]
    pub min_amount: Option<f64>,
    /// Only amounts at most this (inclusive; exact, at most 2 decimals). Example: `250.5`
    #[param(nullable = false, minimum = 0)]
    pub max_amount: Option<f64>,
}

/// `running_balance` on a listing and on an export.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunningBalanceQuery {
    /// `true`: each item carries `balance_after`, the user's balance right after it (in `transaction_date`, then id order), counting every transaction of the user — so not with `transaction_type`, `min_amount` or `max_amount` (422). Default `false`: the items are exactly as without it.
    #[param(nullable = false)]
    pub running_balance: Option<bool>,
}
