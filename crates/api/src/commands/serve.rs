//! `fido` / `fido serve`: load settings, start logging, serve until SIGTERM/SIGINT.

use std::process::ExitCode;

use super::fail;
use crate::server::{self, Application};

/// Serves until a signal asks it to stop, then finishes in-flight requests.
#[actix_web::main]
pub async fn run() -> ExitCode {
    let settings = match super::start() {
        Ok(s) => s,
        Err(code) => return code,
    };
    // A failure to start is said once, on standard error (where container runtimes
    // collect it too), with its whole cause chain.
    let app = match Application::build(&settings).await {
        Ok(app) => app,
        Err(e) => return fail(&e),
    };
    tracing::info!(
        "listening on http://{}:{} (Swagger UI at /docs/)",
        settings.server.host,
        app.port()
    );
    let handle = app.handle();
    actix_web::rt::spawn(async move {
        server::shutdown_signal().await;
        handle.stop(true).await;
    });
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}
