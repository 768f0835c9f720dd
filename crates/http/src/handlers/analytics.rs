//! `/api/v1/analytics/transactions/{user_id}`: per-user statistics, and `…/daily`: the
//! same totals as a time series.

use actix_web::{web, HttpResponse};
use fido_domain::{DomainError, TransactionService};

use crate::auth::ReadAccess;
use crate::dto::{SeriesBody, StatisticsBody};
use crate::envelope::{self, Envelope};
use crate::error::{ApiError, DataRouteErrors, ErrorBody};
use crate::input::{self, Query};
use crate::params::{DateRangeQuery, UserIdPath};

/// A user's statistics over an inclusive date range, computed in the database. May be
/// served from the cache; always reflects every write that has returned.
#[utoipa::path(get, path = "/api/v1/analytics/transactions/{user_id}", tag = "analytics",
    operation_id = "get_transaction_stats_api_v1_analytics_transactions__user_id__get", security(("bearer" = ["read"])),
    params(
        UserIdPath, DateRangeQuery),
    responses(
        (status = 200, description = "The statistics", body = Envelope<StatisticsBody>),
        (status = 404, description = "No transactions in the range", body = ErrorBody,
            example = json!({"message": "User does not have any transactions or in the specified range"})),
        (status = 422, description = "Bad user id or date, start after end, unknown parameter", body = ErrorBody),
        DataRouteErrors))]
pub async fn statistics(
    _caller: ReadAccess,
    service: web::Data<TransactionService>,
    path: web::Path<UserIdPath>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let user = input::path_user_id(&path.user_id)?;
    let range = input::date_range(&query)?;
    // Serialised already (as the cache holds it, in exactly the shape of `StatisticsBody`).
    let summary_json = service.statistics_encoded(user, range).await?;
    Ok(envelope::ok_encoded(&summary_json))
}

/// A user's totals per day, ISO week or month over an inclusive date range: only
/// periods with transactions, oldest first, at most 1,000 points. Whole days are read
/// from daily roll-ups where the store keeps them. May be served from the cache; always
/// reflects every write that has returned.
#[utoipa::path(get, path = "/api/v1/analytics/transactions/{user_id}/daily", tag = "analytics",
    operation_id = "get_transaction_series", security(("bearer" = ["read"])),
    params(
        UserIdPath, DateRangeQuery,
        ("granularity" = Option<String>, Query, nullable = false, pattern = "^(day|week|month)$",
            description = "`day` (default), `week` (ISO weeks, Monday to Sunday, UTC) or `month`",
            example = "week")),
    responses(
        (status = 200, description = "The series (no points for a user without transactions in the range)",
            body = Envelope<SeriesBody>,
            example = json!({"message": "Request successful", "data": {"granularity": "day", "points": [
                {"period": "2026-11-25", "transaction_count": 2, "total_credit": 45.0, "total_debit": 0.0, "net": 45.0,
                 "opening_balance": 100.0, "closing_balance": 145.0}]}})),
        (status = 422, description = "Bad user id, date or granularity; start after end; more than 1,000 points (the bound is named); unknown parameter", body = ErrorBody),
        DataRouteErrors))]
pub async fn series(
    _caller: ReadAccess,
    service: web::Data<TransactionService>,
    path: web::Path<UserIdPath>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let user = input::path_user_id(&path.user_id)?;
    let (range, granularity) = input::series(&query)?;
    let series_json = match service.series_encoded(user, range, granularity).await {
        Ok(json) => json,
        // Name the bound to move: the end when one was given, else the start.
        Err(DomainError::TooManyPoints { max }) => {
            let named = if range.end().is_none() && range.start().is_some() {
                "start_date"
            } else {
                "end_date"
            };
            return Err(ApiError::too_many_points(named, max));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(envelope::ok_encoded(&series_json))
}
