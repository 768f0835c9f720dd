//! `/api/v1/transactions…`: create, read, update, delete, list by user.

use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse};
use fido_domain::{ListQuery, TransactionService, Window};
use fido_observability::names;

use crate::auth::{ReadAccess, WriteAccess};
use crate::body::JsonBody;
use crate::cursor::CursorCodec;
use crate::dto::{
    CreateTransactionRequest, CreatedTransactionBody, HistoryBody, TransactionBody,
    TransactionPageBody, UpdateTransactionRequest,
};
use crate::envelope::{self, Envelope, MessageOnly};
use crate::error::{ApiError, BodyRouteErrors, DataRouteErrors, ErrorBody};
use crate::input::{self, IfMatch, Query};
use crate::params::{
    IfMatchHeader, ListFilterQuery, RunningBalanceQuery, TransactionIdPath, UserIdPath,
};

/// The version a conditional write must find. With a list of ETags (RFC 9110 allows
/// several), the current version is read and the write is made conditional on it if it is
/// one of them: a change in between fails the write with 412, as it should.
async fn precondition(
    service: &TransactionService,
    id: fido_domain::TransactionId,
    condition: IfMatch,
) -> Result<Option<u64>, ApiError> {
    match condition {
        IfMatch::Any => Ok(None),
        IfMatch::Version(v) => Ok(Some(v)),
        IfMatch::Never => Err(ApiError::PreconditionFailed),
        IfMatch::AnyOf(versions) => {
            let current = service.get(id).await?.version;
            if versions.contains(&current) {
                Ok(Some(current))
            } else {
                Err(ApiError::PreconditionFailed)
            }
        }
    }
}

/// Records a transaction. The name is encrypted before it is stored; the response shows
/// it decrypted.
///
/// With an `Idempotency-Key`, the create happens at most once per key and API key for 24
/// hours: a retry with the same body gets the saved answer again (the same transaction,
/// with `Idempotent-Replayed: true`); with another body, 422; while the first request is
/// still running, 409 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/transactions", tag = "transactions",
    operation_id = "create_user_transaction_api_v1_transactions_post", security(("bearer" = ["write"])),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[ -~]{1,255}$",
        description = "1 to 255 printable ASCII characters; makes retries safe for 24 hours")),
    request_body(content = CreateTransactionRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created (or, for a retried Idempotency-Key, the saved answer)",
            body = Envelope<CreatedTransactionBody>,
            headers(("ETag" = String, description = "The strong ETag of the new version, e.g. \"1\""),
                ("Idempotent-Replayed" = String, description = "`true` when this is the saved answer to an earlier request with the same key"))),
        (status = 409, description = "A request with this Idempotency-Key is still being processed; retry after Retry-After", body = ErrorBody),
        (status = 422, description = "Invalid, unknown or repeated fields, each named", body = ErrorBody),
        BodyRouteErrors, DataRouteErrors))]
pub async fn create(
    caller: WriteAccess,
    service: web::Data<TransactionService>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let key = input::idempotency_key(&req)?;
    let new = input::create(&body.0)?;
    let actor = caller.actor()?;
    let (created, replayed) = match key {
        Some(key) => {
            service
                .create_idempotent(new, &caller.0, key, &actor)
                .await?
        }
        None => (service.create(new, &actor).await?, false),
    };
    let mut response = HttpResponse::Created();
    response.insert_header(envelope::etag(created.version));
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
        metrics::counter!(names::IDEMPOTENT_REPLAYS).increment(1);
    } else {
        metrics::counter!(names::TRANSACTIONS, "operation" => "create").increment(1);
    }
    Ok(response.json(Envelope::ok(CreatedTransactionBody::from(created))))
}

/// Reads one transaction.
#[utoipa::path(get, path = "/api/v1/transactions/{transaction_id}", tag = "transactions",
    operation_id = "get_transaction_by_id_api_v1_transactions__transaction_id__get", security(("bearer" = ["read"])),
    params(TransactionIdPath),
    responses(
        (status = 200, description = "Found", body = Envelope<TransactionBody>,
            headers(("ETag" = String, description = "The strong ETag of this version; send it as If-Match to update or delete safely"))),
        (status = 404, description = "No such transaction", body = ErrorBody,
            example = json!({"message": "Transaction not found"})),
        (status = 422, description = "The id is not 24 hex characters", body = ErrorBody),
        DataRouteErrors))]
pub async fn get(
    _caller: ReadAccess,
    service: web::Data<TransactionService>,
    path: web::Path<TransactionIdPath>,
) -> Result<HttpResponse, ApiError> {
    let id = input::transaction_id(&path.transaction_id)?;
    // Arrives serialised (as the cache holds it, in exactly the shape of
    // `TransactionBody`): wrapped, not parsed and serialised again.
    let found = service.get_encoded(id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(envelope::etag(found.version))
        .content_type(ContentType::json())
        .body(envelope::ok_raw(&found.encoded)))
}

/// Changes a non-empty subset of `full_name`, `transaction_amount`, `transaction_type`.
#[utoipa::path(patch, path = "/api/v1/transactions/{transaction_id}", tag = "transactions",
    operation_id = "update_user_transaction_api_v1_transactions__transaction_id__patch", security(("bearer" = ["write"])),
    params(TransactionIdPath, IfMatchHeader),
    request_body(content = UpdateTransactionRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated; `updated_at` moved", body = Envelope<TransactionBody>,
            headers(("ETag" = String, description = "The strong ETag of the new version"))),
        (status = 412, description = "If-Match does not match the current ETag; nothing changed", body = ErrorBody),
        (status = 404, description = "No such transaction", body = ErrorBody),
        (status = 422, description = "Empty body, immutable, unknown or invalid fields", body = ErrorBody),
        BodyRouteErrors, DataRouteErrors))]
pub async fn update(
    caller: WriteAccess,
    service: web::Data<TransactionService>,
    path: web::Path<TransactionIdPath>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let id = input::transaction_id(&path.transaction_id)?;
    let patch = input::patch(&body.0)?;
    let expected = precondition(&service, id, input::if_match(&req)?).await?;
    let updated = service
        .update(id, patch, expected, &caller.actor()?)
        .await?;
    metrics::counter!(names::TRANSACTIONS, "operation" => "update").increment(1);
    Ok(HttpResponse::Ok()
        .insert_header(envelope::etag(updated.version))
        .json(Envelope::ok(TransactionBody::from(updated))))
}

/// Deletes a transaction.
#[utoipa::path(delete, path = "/api/v1/transactions/{transaction_id}", tag = "transactions",
    operation_id = "delete_transaction_by_id_api_v1_transactions__transaction_id__delete", security(("bearer" = ["write"])),
    params(TransactionIdPath, IfMatchHeader),
    responses(
        (status = 412, description = "If-Match does not match the current ETag; nothing changed", body = ErrorBody),
        (status = 200, description = "Deleted", body = MessageOnly,
            example = json!({"message": "Transaction deleted successfully", "data": null})),
        (status = 404, description = "No such transaction", body = ErrorBody),
        (status = 422, description = "The id is not 24 hex characters", body = ErrorBody),
        DataRouteErrors))]
pub async fn delete(
    caller: WriteAccess,
    service: web::Data<TransactionService>,
    path: web::Path<TransactionIdPath>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = input::transaction_id(&path.transaction_id)?;
    let expected = precondition(&service, id, input::if_match(&req)?).await?;
    service.delete(id, expected, &caller.actor()?).await?;
    metrics::counter!(names::TRANSACTIONS, "operation" => "delete").increment(1);
    Ok(HttpResponse::Ok().json(MessageOnly::new("Transaction deleted successfully")))
}

/// Every kept version of a transaction, oldest first: who (the API key's name, or the
/// command) changed what, when — the values after each change and, for updates, each
/// changed field before and after. Stays readable after the transaction is deleted.
#[utoipa::path(get, path = "/api/v1/transactions/{transaction_id}/history", tag = "transactions",
    operation_id = "get_transaction_history", security(("bearer" = ["read"])),
    params(TransactionIdPath),
    responses(
        (status = 200, description = "The versions, oldest first (empty for a transaction recorded before history was kept and unchanged since)",
            body = Envelope<HistoryBody>,
            example = json!({"message": "Request successful", "data": {"transaction_id": "6650f0c2e4b0a1b2c3d4e5f6", "versions": [
                {"version": 1, "at": "2026-11-26T10:15:30.123Z", "actor": "billing-service", "action": "created",
                 "values": {"user_id": "65e25a6bfb249dcbfbf00b93", "full_name": "Ada Lovelace", "transaction_amount": 10.5,
                            "transaction_type": "credit", "transaction_date": "2026-11-26T10:15:30.123Z"}},
                {"version": 2, "at": "2026-11-27T08:00:00.000Z", "actor": "support-desk", "action": "updated",
                 "values": {"user_id": "65e25a6bfb249dcbfbf00b93", "full_name": "Ada Lovelace", "transaction_amount": 12.0,
                            "transaction_type": "credit", "transaction_date": "2026-11-26T10:15:30.123Z"},
                 "changes": {"transaction_amount": {"before": 10.5, "after": 12.0}}}]}})),
        (status = 404, description = "No version kept and no such transaction", body = ErrorBody,
            example = json!({"message": "Transaction not found"})),
        (status = 422, description = "The id is not 24 hex characters", body = ErrorBody),
        DataRouteErrors))]
pub async fn history(
    _caller: ReadAccess,
    service: web::Data<TransactionService>,
    path: web::Path<TransactionIdPath>,
) -> Result<HttpResponse, ApiError> {
    let id = input::transaction_id(&path.transaction_id)?;
    let versions = service.history(id).await?;
    Ok(HttpResponse::Ok().json(Envelope::ok(HistoryBody {
        transaction_id: id,
        versions: versions.into_iter().map(Into::into).collect(),
    })))
}

/// Lists a user's transactions, newest first (`transaction_date`, then `id`, descending).
/// May be served from the cache; always reflects every write that has returned.
#[utoipa::path(get, path = "/api/v1/transactions/user/{user_id}", tag = "transactions",
    operation_id = "get_user_transactions_api_v1_transactions_user__user_id__get", security(("bearer" = ["read"])),
    // The cursor's example is in its description, not `example`: Swagger UI pre-fills
    // examples into "Try it out", which would send a cursor of nobody's listing.
    params(
        UserIdPath,
        ("page" = Option<u32>, Query, nullable = false, description = "Page number, from 1 (default 1). Not with `cursor`: numbered pages skip the items before them, so deep pages cost more; prefer `cursor` to walk a long history", minimum = 1, maximum = 2147483647),
        ("cursor" = Option<String>, Query, nullable = false, description = "The `next_cursor` of the previous page, as it is, with the same filters: the page after it, at the same cost at any depth. Not with `page`. Example: `AQAAAZrN0L97ZlDwwuSwobLD1OX2Kx8bvD0a9l4mFfHn0G0rLQm7yzYk`"),
        ("limit" = Option<u32>, Query, nullable = false, description = "Page size, 1 to 100 (default 10)", minimum = 1, maximum = 100),
        ListFilterQuery, RunningBalanceQuery),
    responses(
        (status = 200, description = "A page of the matching transactions, newest first; `total` counts every match (0 and an empty page when none)",
            body = Envelope<TransactionPageBody>),
        (status = 422, description = "Bad user id; a page/limit out of range; a bad filter (each named; start after end, min above max); `page` with `cursor`; a cursor that is not one of ours or was made for other filters; a parameter repeated or unknown", body = ErrorBody),
        DataRouteErrors))]
pub async fn list_by_user(
    _caller: ReadAccess,
    service: web::Data<TransactionService>,
    cursors: web::Data<CursorCodec>,
    path: web::Path<UserIdPath>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let user = input::path_user_id(&path.user_id)?;
    let listing = input::listing(&query)?;
    let window = match listing.cursor {
        Some(token) => Window::After {
            after: Some(
                cursors
                    .open(token, user, &listing.filter)
                    .map_err(|e| ApiError::field("cursor", e.to_string()))?,
            ),
            limit: listing.page.limit(),
        },
        None => Window::Page(listing.page),
    };
    let query = ListQuery {
        filter: listing.filter,
        window,
    };
    // The page arrives serialised (as the cache holds it, in exactly the shape of
    // `TransactionPageBody`): wrapped, not parsed and serialised again.
    let page_json = if listing.running_balance {
        service.list_with_balances_encoded(user, query).await?
    } else {
        service.list_encoded(user, query).await?
    };
    Ok(envelope::ok_encoded(&page_json))
}
