//! `GET /`, `GET /health/live`, `GET /health/ready`.

use actix_web::{web, HttpResponse};
use fido_domain::{Backlog, EventRelay, RelayStatus, StoreError, Timestamp, TransactionService};

use crate::dto::{EventsHealthBody, FeedHealthBody, LiveBody, ReadyBody, ReadyChecks};
use crate::envelope::MessageOnly;

/// The original service's root answer.
#[utoipa::path(get, path = "/", tag = "health", operation_id = "healthcheck__get",
    responses((status = 200, description = "The service is up", body = MessageOnly,
        example = json!({"message": "Backend is running", "data": null}))))]
pub async fn root() -> HttpResponse {
    HttpResponse::Ok().json(MessageOnly::new("Backend is running"))
}

/// Liveness: 200 while the process serves requests. Checks no dependency.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "The process serves requests", body = LiveBody)))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(LiveBody { status: "ok" })
}

/// Readiness: 503 when the store is unreachable; a broken cache only degrades, and so does
/// a failing event publisher (the outbox keeps the events; see `events`). Documents set
/// aside by `fido migrate` do not make it unready: `quarantined_documents` counts them.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Ready (`degraded` when the cache is down)", body = ReadyBody,
            example = json!({"status": "ok", "checks": {"store": "ok", "cache": "ok"}})),
        (status = 503, description = "The store is unreachable, or holds the original service's documents (`checks.store`: `migration_required`; run `fido migrate`)", body = ReadyBody,
            example = json!({"status": "unavailable", "checks": {"store": "unavailable", "cache": "ok"}}))))]
pub async fn ready(
    service: web::Data<TransactionService>,
    relay: Option<web::Data<EventRelay>>,
) -> HttpResponse {
    let readiness = service.readiness().await;
    let events = relay.map(|relay| events_health(&relay.status()));
    // Read now (not the relay's last round), so a client waiting for its writes to reach
    // the feed can rely on it; absent when the store cannot be asked (its check says so).
    let feed = match service.feed_backlog().await {
        Some(Ok(backlog)) => Some(feed_health(&backlog)),
        _ => None,
    };
    let events_degraded = events.as_ref().is_some_and(|e| e.status != "ok")
        || feed.as_ref().is_some_and(|f| f.status == "lagging");
    let label = |ok: bool| if ok { "ok" } else { "unavailable" };
    let store_label = match &readiness.store {
        Ok(()) => "ok",
        Err(StoreError::MigrationRequired(_)) => "migration_required",
        Err(_) => "unavailable",
    };
    if let Err(e) = &readiness.store {
        tracing::warn!(error = %e, "readiness: store unavailable");
    }
    if let Err(e) = &readiness.cache {
        tracing::warn!(error = %e, "readiness: cache unavailable");
    }
    let body = ReadyBody {
        status: match (
            readiness.store.is_ok(),
            readiness.cache.is_ok() && !events_degraded,
        ) {
            (false, _) => "unavailable",
            (true, false) => "degraded",
            (true, true) => "ok",
        },
        checks: ReadyChecks {
            store: store_label,
            cache: label(readiness.cache.is_ok()),
        },
        events,
        feed,
        quarantined_documents: (readiness.quarantined > 0).then_some(readiness.quarantined),
        writes: service.write_pause().map(|_| "paused"),
    };
    #[allow(clippy::cast_precision_loss)] // a count of documents, far below 2^52
    metrics::gauge!(fido_observability::names::QUARANTINED_DOCUMENTS)
        .set(readiness.quarantined as f64);
    if readiness.store.is_ok() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// An event waiting longer than this for its sequence means no relay numbers events (a
/// relay that died is replaced within its lease: 10 s by default, and the settings keep
/// it under 300 s — so a longer lease shows `lagging` while a dead holder's lease runs
/// out, which is true).
const LAGGING_AFTER_SECS: f64 = 30.0;

fn feed_health(backlog: &Backlog) -> FeedHealthBody {
    let age = backlog.oldest_unsequenced_age_seconds(Timestamp::now());
    let lagging = age.is_some_and(|a| a > LAGGING_AFTER_SECS);
    if lagging {
        tracing::warn!(
            unsequenced = backlog.unsequenced,
            "readiness: committed events are not reaching the feed (is a relay running?)"
        );
    }
    FeedHealthBody {
        status: if lagging { "lagging" } else { "ok" },
        unsequenced: backlog.unsequenced,
        oldest_unsequenced_age_seconds: age,
    }
}

fn events_health(status: &RelayStatus) -> EventsHealthBody {
    let degraded = !status.failing.is_empty() || status.error.is_some();
    if degraded {
        tracing::warn!(failing = ?status.failing, error = ?status.error, "readiness: event relay degraded");
    }
    EventsHealthBody {
        status: if degraded { "degraded" } else { "ok" },
        leader: status.leader,
        backlog: status.backlog.undelivered,
        oldest_undelivered_age_seconds: status.backlog.oldest_age_seconds(Timestamp::now()),
        failing_publishers: status
            .failing
            .iter()
            .map(|(name, _)| name.clone())
            .collect(),
    }
}
