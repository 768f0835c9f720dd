//! The metrics listener: the HTTP edge's `/metrics` route on a listener of its own
//! (`FIDO__METRICS__ADDR`; empty: off), never beside the public API. Served by the same
//! actix stack as the API, one worker. By default ([`DEFAULT_ADDR`], not set) it listens on
//! `127.0.0.1:9464` when that is free; when another process on the host holds it (a
//! second instance), this one says so once and runs without metrics instead of refusing to
//! start. An address that was set is required: taken, the process stops naming it.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer};
use fido_domain::TransactionService;
use fido_http::handlers::metrics::Scrape;
use fido_observability::Metrics;

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

/// `metrics.addr` when it is not set: `127.0.0.1:9464` if free, else no metrics.
pub const DEFAULT_ADDR: &str = "default";

/// Where the default listens.
const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// The recorder and the `/metrics` listener, bound before anything is wired.
pub struct Recorder {
    metrics: Metrics,
    listener: TcpListener,
    address: String,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Binds the `/metrics` listener and installs the recorder (when metrics are on), so
/// everything built after it records. `None` when metrics are off — switched off, or the
/// default address is held by another process (said once, as a warning).
pub fn install(settings: &Settings) -> Result<Option<Recorder>> {
    if !settings.metrics_enabled() {
        return Ok(None);
    }
    let set = settings.metrics.addr.trim();
    let address = if set == DEFAULT_ADDR {
        DEFAULT_LISTEN
    } else {
        set
    }
    .to_owned();
    let listener = match TcpListener::bind(&address) {
        Ok(listener) => listener,
        Err(e) if set == DEFAULT_ADDR && e.kind() == std::io::ErrorKind::AddrInUse => {
            tracing::warn!(
                "metrics off: {DEFAULT_LISTEN} is in use (another instance on this host?); \
                 set FIDO__METRICS__ADDR to an address of this instance's own to serve /metrics"
            );
            return Ok(None);
        }
        Err(source) => return Err(bind_error(&address, &source)),
    };
    let metrics = fido_observability::install().map_err(|e| Error::Config(e.to_string()))?;
    Ok(Some(Recorder {
        metrics,
        listener,
        address,
    }))
}

/// Not `Error::Bind`, whose hint is about PORT: this one names its own setting.
fn bind_error(address: &str, source: &std::io::Error) -> Error {
    Error::Config(format!(
        "cannot listen on {address} for /metrics ({source}); is another instance using \
         it? Set FIDO__METRICS__ADDR to another address, or empty to switch metrics off"
    ))
}

/// Serves `/metrics` on the recorder's listener (with the service's single-flight count
/// when it has one).
pub fn serve(recorder: Recorder, service: Option<TransactionService>) -> Result<MetricsServer> {
    let Recorder {
        metrics,
        listener,
        address,
    } = recorder;
    let bind_error = |source: std::io::Error| bind_error(&address, &source);
    let port = listener.local_addr().map_err(bind_error)?.port();
    let exporter = metrics.clone();
    let scrape = Scrape::new(std::sync::Arc::new(move || exporter.render()), service);
    let server = HttpServer::new(move || {
        let scrape = scrape.clone();
        App::new().configure(move |cfg| fido_http::mount_metrics(cfg, &scrape))
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
    let upkeep = metrics;
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
