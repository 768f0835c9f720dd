//! `/metrics`: the Prometheus text format, for the listener of its own the composition root
//! opens (never beside the public API). The exporter stays outside this crate: the route
//! is handed a function that renders its text.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use fido_domain::TransactionService;
use fido_observability::names;

/// Renders every metric in the Prometheus text format, read at the time of the call.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// What a scrape reads: the exporter's text and, when the process serves one, the
/// service's own counters (those it keeps rather than records).
#[derive(Clone)]
pub struct Scrape {
    render: RenderMetrics,
    service: Option<TransactionService>,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrape")
            .field("service", &self.service.is_some())
            .finish_non_exhaustive()
    }
}

impl Scrape {
    /// A scrape of `render`, with `service`'s counters when there is one.
    pub fn new(render: RenderMetrics, service: Option<TransactionService>) -> Self {
        Self { render, service }
    }
}

/// `GET /metrics`.
pub async fn render(scrape: web::Data<Scrape>) -> HttpResponse {
    if let Some(service) = &scrape.service {
        metrics::counter!(names::SINGLE_FLIGHT_JOINS).absolute(service.single_flight_joins());
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body((scrape.render)())
}
