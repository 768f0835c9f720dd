//! The running service: binds the listener, builds the actix app around the domain service,
//! and shuts down gracefully (stop accepting, finish in-flight requests) when asked.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use fido_domain::TransactionService;

use crate::http;
use crate::settings::Settings;
use crate::wiring::{build_service, StartupError};

/// A built, bound, not yet awaited server.
pub struct Application {
    server: Server,
    port: u16,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the adapters and binds `server.host:server.port` (port 0 picks a free one).
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        let service = build_service(settings).await?;
        Self::with_service(settings, service)
    }

    /// Binds and serves an already wired service (for tests with custom adapters).
    pub fn with_service(
        settings: &Settings,
        service: TransactionService,
    ) -> Result<Self, StartupError> {
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let bind_error = |source| StartupError::Bind {
            address: address.clone(),
            source,
        };
        let listener = TcpListener::bind(&address).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();
        let data = web::Data::new(service);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(from_fn(http::request_context::request_context))
                .configure(http::configure)
        })
        .disable_signals()
        .shutdown_timeout(settings.server.shutdown_timeout_secs);
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers);
        }
        let server = server.listen(listener).map_err(bind_error)?.run();
        Ok(Self { server, port })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received: shutting down gracefully"),
                    _ = int.recv() => tracing::info!("SIGINT received: shutting down gracefully"),
                }
            }
            _ => {
                tracing::warn!("cannot install signal handlers; falling back to Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
