//! `GET /`, `GET /health/live`, `GET /health/ready`.

use actix_web::{web, HttpResponse};
use fido_domain::TransactionService;

use crate::dto::{LiveBody, ReadyBody, ReadyChecks};
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

/// Readiness: 503 when the store is unreachable; a broken cache only degrades.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Ready (`degraded` when the cache is down)", body = ReadyBody,
            example = json!({"status": "ok", "checks": {"store": "ok", "cache": "ok"}})),
        (status = 503, description = "The store is unreachable", body = ReadyBody,
            example = json!({"status": "unavailable", "checks": {"store": "unavailable", "cache": "ok"}}))))]
pub async fn ready(service: web::Data<TransactionService>) -> HttpResponse {
    let readiness = service.readiness().await;
    let label = |ok: bool| if ok { "ok" } else { "unavailable" };
    if let Err(e) = &readiness.store {
        tracing::warn!(error = %e, "readiness: store unavailable");
    }
    if let Err(e) = &readiness.cache {
        tracing::warn!(error = %e, "readiness: cache unavailable");
    }
    let body = ReadyBody {
        status: match (readiness.store.is_ok(), readiness.cache.is_ok()) {
            (false, _) => "unavailable",
            (true, false) => "degraded",
            (true, true) => "ok",
        },
        checks: ReadyChecks {
            store: label(readiness.store.is_ok()),
            cache: label(readiness.cache.is_ok()),
        },
    };
    if readiness.store.is_ok() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
