//! The running service: binds the listener, builds the actix app around the domain service,
//! and shuts down gracefully (stop accepting, finish in-flight requests) when asked.

use std::net::TcpListener;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::http::header;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use fido_domain::TransactionService;

use crate::auth::RateLimiter;
use crate::http;
use crate::http::access::Access;
use crate::keys;
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
        let access = web::Data::new(Access::new(
            keys::api_keys(settings)?,
            RateLimiter::new(
                settings.security.rate_limit_per_second,
                settings.security.rate_limit_burst,
            ),
        ));
        let origins: Vec<String> = settings
            .cors_origins()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let listener = TcpListener::bind(&address).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();
        let data = web::Data::new(service);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(access.clone())
                .wrap(cors(&origins))
                .wrap(from_fn(http::request_context::request_context))
                .configure(http::configure)
        })
        .disable_signals()
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .client_request_timeout(Duration::from_millis(
            settings.server.client_request_timeout_ms,
        ))
        .client_disconnect_timeout(Duration::from_secs(1))
        .max_connections(settings.server.max_connections_per_worker);
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

/// CORS: closed unless origins are configured; `*` allows any origin (the development
/// default). Credentials are never allowed: API keys travel in a header, not cookies.
fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            header::ETAG,
        ])
        .max_age(600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
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
