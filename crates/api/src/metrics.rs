//! `/metrics`: the Prometheus text format, on a listener of its own
//! (`FIDO__METRICS__ADDR`, default `127.0.0.1:9464`; empty: off), never beside the public
//! API. Served by the same actix stack as the API, one worker.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpResponse, HttpServer};
use fido_domain::TransactionService;
use fido_observability::{names, Metrics};

use crate::error::{Error, Result};
use crate::settings::Settings;

/// The running `/metrics` listener.
pub struct MetricsServer {
    server: Server,
    port: u16,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

struct Scrape {
    metrics: Metrics,
    service: Option<TransactionService>,
}

async fn render(scrape: web::Data<Scrape>) -> HttpResponse {
    if let Some(service) = &scrape.service {
        metrics::counter!(names::SINGLE_FLIGHT_JOINS).absolute(service.single_flight_joins());
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(scrape.metrics.render())
}

/// Installs the recorder (when metrics are on), so everything built after it records.
pub fn install(settings: &Settings) -> Result<Option<Metrics>> {
    if !settings.metrics_enabled() {
        return Ok(None);
    }
    fido_observability::install()
        .map(Some)
        .map_err(|e| Error::Config(e.to_string()))
}

/// Binds `metrics.addr` and serves `/metrics` (with the service's single-flight count when
/// it has one).
pub fn serve(
    settings: &Settings,
    metrics: Metrics,
    service: Option<TransactionService>,
) -> Result<MetricsServer> {
    let address = settings.metrics.addr.trim().to_owned();
    // Not `Error::Bind`, whose hint is about PORT: this one names its own setting.
    let bind_error = |source: std::io::Error| {
        Error::Config(format!(
            "cannot listen on {address} for /metrics ({source}); is another instance using \
             it? Set FIDO__METRICS__ADDR to another address, or empty to switch metrics off"
        ))
    };
    let listener = TcpListener::bind(&address).map_err(bind_error)?;
    let port = listener.local_addr().map_err(bind_error)?.port();
    let scrape = web::Data::new(Scrape { metrics, service });
    let app_scrape = scrape.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_scrape.clone())
            .route("/metrics", web::get().to(render))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .client_request_timeout(Duration::from_secs(5))
    .listen(listener)
    .map_err(bind_error)?
    .run();
    // Histogram samples wait in the recorder until drained: drain them now and then even
    // when nothing scrapes, so memory never grows with the traffic.
    let upkeep = scrape.metrics.clone();
    actix_web::rt::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.upkeep();
        }
    });
    tracing::info!("metrics at http://{address}/metrics");
    Ok(MetricsServer { server, port })
}

impl MetricsServer {
    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop it.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped.
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}
