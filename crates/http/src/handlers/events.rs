//! `GET /api/v1/events`: the pull feed of every change, in sequence order.

use actix_web::{web, HttpResponse};
use fido_domain::{DomainError, TransactionService, MAX_FEED_LIMIT};
use fido_events::Event;

use crate::auth::ReadAccess;
use crate::dto::EventPageBody;
use crate::envelope::Envelope;
use crate::error::{ApiError, DataRouteErrors, ErrorBody};
use crate::input::{self, Query};

/// Events after a sequence number, oldest first: `transaction.created`, `…updated` and
/// `…deleted`, each with the transaction as it is after the change (before it, for a
/// deletion), never the customer's name. Start with `after=0`; continue with the answer's
/// `next_after`. Delivery is at least once elsewhere (RabbitMQ, webhooks); here a cursor
/// reads each event exactly once. A cursor below what retention has removed gets 410.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    operation_id = "list_events", security(("bearer" = ["read"])),
    params(
        ("after" = Option<u64>, Query, nullable = false, minimum = 0,
            description = "Return events with a sequence above this (default 0: from the oldest retained); at most the answer's `last_sequence` (a cursor beyond it is 422)", example = 0),
        ("limit" = Option<u32>, Query, nullable = false, minimum = 1, maximum = 1000,
            description = "At most this many events (1 to 1000, default 100)", example = 100)),
    responses(
        (status = 200, description = "The events, in sequence order, with the next cursor",
            body = Envelope<EventPageBody>),
        (status = 404, description = "Events are switched off (FIDO__EVENTS__ENABLED=false)", body = ErrorBody),
        (status = 410, description = "Retention removed events after this cursor: rebuild from the API, then read from the cursor the `after` error names",
            body = ErrorBody,
            example = json!({"message": "Events after this cursor were removed by retention", "errors": [
                {"field": "after", "message": "must be at least 1200: events up to it were removed by retention"}]})),
        (status = 422, description = "`after` or `limit` is not a number in range (`after` above the last sequence given so far included); unknown parameter", body = ErrorBody),
        DataRouteErrors))]
pub async fn feed(
    _caller: ReadAccess,
    service: web::Data<TransactionService>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let (after, limit) = input::feed(&query, MAX_FEED_LIMIT)?;
    let page = match service.events(after, limit).await {
        Ok(page) => page,
        Err(DomainError::CursorExpired { pruned_through }) => {
            return Err(ApiError::Gone {
                field: "after",
                detail: format!(
                    "must be at least {pruned_through}: events up to it were removed by retention"
                ),
            })
        }
        Err(DomainError::EventsDisabled) => {
            return Err(ApiError::NotFound(
                "Events are switched off on this deployment (FIDO__EVENTS__ENABLED=false)",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let next_after = page.events.last().map_or(after, |e| e.sequence);
    let events: Vec<Event> = page.events.iter().filter_map(Event::from_stored).collect();
    Ok(HttpResponse::Ok().json(Envelope::ok(EventPageBody {
        events,
        next_after,
        last_sequence: page.last_sequence,
    })))
}
