//! `/api/v1/balances/{user_id}`: what a user holds at an instant.

use actix_web::{web, HttpResponse};
use fido_domain::TransactionService;

use crate::auth::ReadAccess;
use crate::dto::BalanceBody;
use crate::envelope::{self, Envelope};
use crate::error::{ApiError, DataRouteErrors, ErrorBody};
use crate::input::{self, Query};
use crate::params::UserIdPath;

/// A user's balance at an instant: `credits − debits` over the transactions dated at or
/// before it. Whole days come from the daily roll-ups and the partial day from rows, so
/// the cost grows with the days, not the transactions. May be served from the cache;
/// always reflects every write that has returned.
#[utoipa::path(get, path = "/api/v1/balances/{user_id}", tag = "analytics",
    operation_id = "get_balance", security(("bearer" = ["read"])),
    params(
        UserIdPath,
        ("at" = Option<String>, Query, nullable = false, format = DateTime,
            description = "The instant: RFC 3339; a date-time without offset, read as UTC; or YYYY-MM-DD meaning 23:59:59.999Z of that day. At most one day ahead. Default: now (the last millisecond of the current second)",
            example = "2026-11-30")),
    responses(
        (status = 200, description = "The balance (zeros for a user without transactions)", body = Envelope<BalanceBody>,
            example = json!({"message": "Request successful", "data": {"user_id": "65e25a6bfb249dcbfbf00b93",
                "as_of": "2026-11-30T23:59:59.999Z", "balance": 45.0, "credits": 55.0, "debits": 10.0, "transaction_count": 3}})),
        (status = 422, description = "Bad user id; `at` malformed or more than a day ahead; unknown or repeated parameter", body = ErrorBody),
        DataRouteErrors))]
pub async fn balance(
    _caller: ReadAccess,
    service: web::Data<TransactionService>,
    path: web::Path<UserIdPath>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let user = input::path_user_id(&path.user_id)?;
    let at = input::balance_at(&query)?;
    // Serialised already (as the cache holds it, in exactly the shape of `BalanceBody`).
    let balance_json = service.balance_encoded(user, at).await?;
    Ok(envelope::ok_encoded(&balance_json))
}
